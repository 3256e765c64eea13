/**
 * Latency thresholds end to end: the latency step is planned only when a latency threshold asks, times the
 * baseline and the result side by side, lands in report.json (valid against the published schema) and the
 * table, and the threshold re-gates from cache. Assertions never depend on how fast the machine is: the
 * limits are far from any plausible ratio, or the check is on the shape of what was measured.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { readReport, type Report } from '../../src/report/index.js';
import { ROOT, runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const validateReport = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'schema', 'report.schema.json'), 'utf8')) as object,
);

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const recipe = (thresholds: string, extra = '') =>
  tinyRecipe({ passes: '  - prune-channels: { sparsity: 0.5 }', thresholds, extra });

describe('latency thresholds', () => {
  it('plan a side-by-side timing step, gate on it, report it, and re-gate from cache when the limit changes', async () => {
    const file = writeText(
      join(dir, 'latency.yaml'),
      recipe(
        '  accuracy: { maxDrop: 0.5 }\n  latency: { minRatio: 0.01 }',
        'runtime:\n  latency: { batchSizes: [1, 8], runs: 12 }\n',
      ),
    );
    const plan = await runCli(['plan', file, '--cache-dir', cacheDir]);
    expect(plan.code, plan.all).toBe(0);
    expect(plan.stdout).toMatch(
      /missing {2}[0-9a-f]{12} {2}latency +time baseline and result interleaved on mnist\/test\[:300\] ← baseline, pass-1-prune-channels/,
    );
    expect(plan.stdout).toMatch(/gate +thresholds .*← eval-baseline, eval-result, latency/);

    const r = await runCli([file, '--cache-dir', cacheDir]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(
      /latency b1 side by side † +[\d.]+ ms +[\d.]+ ms +[\d.]+x (faster|slower) \(speed-up 95% CI [\d.]+–[\d.]+\)/,
    );
    expect(r.stdout).toMatch(/latency b8 side by side †/);
    expect(r.stdout).toContain(
      '† side by side: baseline and result timed in turn (ABBA pairs on the same inputs, 12 pairs at batch 1, 12 pairs at batch 8)',
    );
    expect(r.stdout).toMatch(
      /PASS {2}latency\.minRatio: at batch 1 the result is [\d.]+x (faster|slower) than the baseline \(median [\d.]+ ms vs [\d.]+ ms, 12 interleaved pairs; 95% interval [\d.]+–[\d.]+x\); minimum speed-up 0\.01x/,
    );

    const written = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as Report;
    expect(validateReport(written), JSON.stringify(validateReport.errors, null, 2)).toBe(true);
    // The timings and the check's measurement are in run.json (report.json stays the same bytes from build to
    // build); readReport merges them back, as the table and `mcbuild report` read them.
    expect(written.metrics.latencyComparison).toBeUndefined();
    expect(written.thresholds.find((t) => t.name === 'latency.minRatio')).toEqual({
      name: 'latency.minRatio',
      pass: true,
      limit: 0.01,
    });
    const { report } = await readReport(join(dir, 'out'));
    const c = report.metrics.latencyComparison!;
    expect(c.order).toBe('ABBA');
    expect(c.batches.map((b) => [b.batchSize, b.runs, b.baseline.samplesMs.length, b.result.samplesMs.length])).toEqual(
      [
        [1, 12, 12, 12],
        [8, 12, 12, 12],
      ],
    );
    const check = report.thresholds.find((t) => t.name === 'latency.minRatio')!;
    expect(check.measured).toBe(c.batches[0]!.ratio);
    expect(report.steps.map((s) => s.id)).toContain('latency');

    // The limit is in no key: an impossible one fails the gate from cache, with no step run.
    const strict = await runCli([
      file,
      '--cache-dir',
      cacheDir,
      '--set',
      'thresholds.latency.minRatio=1000',
      '--set',
      'thresholds.latency.batchSize=8',
    ]);
    expect(strict.code, strict.all).toBe(1);
    expect(strict.all).toMatch(/0 run in/);
    expect(strict.stdout).toMatch(/FAIL {2}latency\.minRatio: at batch 8 the result is/);
  });

  it('recipes without a latency threshold plan no latency step, and keep their step keys', async () => {
    const a = writeText(join(dir, 'a.yaml'), recipe('  accuracy: { maxDrop: 0.5 }'));
    const b = writeText(join(dir, 'b.yaml'), recipe('  accuracy: { maxDrop: 0.5 }\n  latency: { maxMs: 100000 }'));
    const [pa, pb] = [
      await runCli(['plan', a, '--json', '--cache-dir', cacheDir]),
      await runCli(['plan', b, '--json', '--cache-dir', cacheDir]),
    ];
    expect(pa.code, pa.all).toBe(0);
    const steps = (p: typeof pa) => (JSON.parse(p.stdout) as { steps: { id: string; key: string }[] }).steps;
    expect(steps(pa).map((s) => s.id)).not.toContain('latency');
    expect(steps(pb).map((s) => s.id)).toEqual([...steps(pa).map((s) => s.id), 'latency']);
    expect(steps(pb).slice(0, -1)).toEqual(steps(pa));
  });

  it('a latency threshold that cannot be judged is a recipe error at its line (exit 2, no stack)', async () => {
    const cases: [string, string, RegExp][] = [
      [
        '  latency: { minRatio: 1, batchSize: 7 }',
        '',
        /`thresholds\.latency\.batchSize` at .*bad\.yaml:\d+:\d+ is 7, but latency is measured at batch 1, 32; add 7 to `runtime\.latency\.batchSizes` or gate one of those\./,
      ],
      [
        '  latency: { percentile: 95 }',
        '',
        /`thresholds\.latency` at .*bad\.yaml:\d+:\d+ sets no limit; add `minRatio`/,
      ],
      [
        '  latency: { maxMs: 5, significance: { level: 0.9 } }',
        '',
        /`thresholds\.latency\.significance` at .*bad\.yaml:\d+:\d+ judges `minRatio`, which is not set/,
      ],
      ['  latency: { minRatio: 1, percentile: 90 }', '', /percentile/],
    ];
    for (const [thresholds, extra, message] of cases) {
      const file = writeText(join(dir, 'bad.yaml'), recipe(thresholds, extra));
      const r = await runCli(['validate', file]);
      expect(r.code, r.all).toBe(2);
      expect(r.all).toMatch(message);
      expect(stackLines(r.all)).toEqual([]);
    }
  });
});
