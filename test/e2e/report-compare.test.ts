/**
 * `mcbuild report` comparing two builds: two output folders, or a recipe's last two (different) builds as
 * recorded in the cache. Real tiny builds.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReportComparison } from '../../src/report/index.js';
import { runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-compare-');
const cacheDir = join(dir, 'cache');

describe('mcbuild report A B / report <recipe>', () => {
  it('compares two output folders metric by metric, and a recipe’s last two builds', { timeout: 120_000 }, async () => {
    const file = writeText(
      join(dir, 'r.yaml'),
      tinyRecipe({ passes: '  - quantize: { dtype: uint8 }', output: './out/a' }),
    );
    const none = await runCli(['report', file, '--cache-dir', cacheDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no recorded build in .*; build it to compare, or pass two output folders/);

    expect((await runCli([file, '--cache-dir', cacheDir])).code).toBe(0);
    const one = await runCli(['report', file, '--cache-dir', cacheDir]);
    expect(one.stderr).toMatch(/only one recorded build/);
    // The same recipe with float16 weights, into another folder.
    expect(
      (
        await runCli([
          file,
          '--cache-dir',
          cacheDir,
          '--set',
          'passes[0].quantize.dtype=float16',
          '--out',
          join(dir, 'out', 'b'),
        ])
      ).code,
    ).toBe(0);

    const two = await runCli(['report', join(dir, 'out', 'a'), join(dir, 'out', 'b'), '--json']);
    expect(two.code, two.all).toBe(0);
    const c = JSON.parse(two.stdout) as ReportComparison;
    const size = c.metrics.find((m) => m.metric === 'size')!;
    expect(size.after! / size.before!).toBeGreaterThan(1.8); // float16 is twice uint8, plus the same model.json
    expect(size.delta).toBe(size.after! - size.before!);
    expect(c.metrics.map((m) => m.metric)).toEqual(
      expect.arrayContaining(['accuracy', 'top-k accuracy', 'agreement with baseline', 'non-zero params', 'MACs']),
    );
    expect(c.baselineChanged).toBe(false);

    // The recipe's record holds the float16 build (last) and the uint8 one before it.
    const text = await runCli(['report', file, '--cache-dir', cacheDir]);
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).toMatch(/^metric \(result\) +previous build +last build +change$/m);
    expect(text.stdout).toMatch(/^size +\d+(\.\d)? kB +\d+(\.\d)? kB +\+[\d.]+ kB \(\d\.\d\dx\)$/m);
    expect((await runCli(['report', join(dir, 'out', 'a'), join(dir, 'nope')])).code).toBe(2);
    expect(
      (await runCli(['report', join(dir, 'out', 'a'), join(dir, 'out', 'b'), '--format', 'markdown'])).stderr,
    ).toMatch(/--format markdown renders one report/);
  });
});
