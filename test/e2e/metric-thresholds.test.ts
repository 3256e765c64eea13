/**
 * `thresholds.metrics` end to end: limits on named metrics of a real build, re-gated from cache, GitHub
 * annotations at the limit's own YAML line, and schema errors for limits that make no sense.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const recipe = (metrics: string) =>
  tinyRecipe({ passes: '  - prune: { sparsity: 0.6 }', thresholds: `  metrics:\n${metrics}` });

describe('thresholds.metrics', () => {
  it('gates a pruned build on sparsity, peak memory and top-k, and annotates a miss at its line', async () => {
    const file = writeText(
      join(dir, 'metrics.yaml'),
      recipe('    sparsity: { min: 0.5 }\n    topKAccuracy: { maxDrop: 0.5 }\n    peakBytes: { max: 1kB }'),
    );
    const r = await runCli(['build', 'metrics.yaml', '--cache-dir', cacheDir], {
      cwd: dir,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(r.code, r.all).toBe(1);
    expect(r.stdout).toMatch(/PASS {2}metrics\.sparsity\.min: sparsity is (5\d|6\d)\.\d\d%; minimum 50\.00%/);
    expect(r.stdout).toMatch(/PASS {2}metrics\.topKAccuracy\.maxDrop: topKAccuracy dropped by -?\d+\.\d\d pt/);
    expect(r.stdout).toMatch(
      /FAIL {2}metrics\.peakBytes\.max: peakBytes is [\d.]+ [kM]B \(\d+ bytes\); maximum 1\.0 kB \(1000 bytes\)/,
    );
    // The annotation points at the peakBytes line of the recipe.
    const line =
      readFileSync(file, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('peakBytes')) + 1;
    expect(r.all).toMatch(
      new RegExp(
        `::error file=metrics\\.yaml,line=${line},col=\\d+,title=mcbuild%3A metrics\\.peakBytes\\.max::peakBytes is`,
      ),
    );

    const relaxed = await runCli(
      ['build', 'metrics.yaml', '--cache-dir', cacheDir, '--set', 'thresholds.metrics.peakBytes.max=100MB'],
      { cwd: dir },
    );
    expect(relaxed.code, relaxed.all).toBe(0);
    expect(relaxed.all).toMatch(/0 run in/);
  });

  it('limits that make no sense for a metric, and unknown metrics, are recipe errors (exit 2, no stack)', async () => {
    for (const [metrics, message] of [
      ['    meanKl: { minRatio: 2 }', /thresholds\.metrics\.meanKl.*minRatio/s],
      ['    sizeBytes: { maxDrop: 10 }', /thresholds\.metrics\.sizeBytes.*maxDrop/s],
      ['    peakByte: { max: 10 }', /peakByte.*peakBytes/s],
      ['    sparsity: { min: 1.5 }', /thresholds\.metrics\.sparsity\.min/],
    ] as const) {
      const file = writeText(join(dir, 'bad.yaml'), recipe(metrics));
      const r = await runCli(['validate', file]);
      expect(r.code, r.all).toBe(2);
      expect(r.all).toMatch(message);
      expect(r.all).toMatch(/bad\.yaml:\d+:\d+/);
      expect(stackLines(r.all)).toEqual([]);
    }
  });
});
