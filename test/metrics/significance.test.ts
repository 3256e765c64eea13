/**
 * The statistical accuracy gate's verdict (src/metrics/significance.ts): both readings of both tests, and the
 * sentence it prints. The tests themselves are checked against published numbers in
 * test/algorithms/significance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { pairedBootstrap } from '../../src/algorithms/significance/index.js';
import { significanceVerdict } from '../../src/metrics/significance.js';
import { outcomes } from '../algorithms/paired-outcomes.js';

describe('significanceVerdict', () => {
  it('McNemar, significant reading: fails only when the one-sided p < 1 − level and b > c', () => {
    // b = 11, c = 3: one-sided p = 0.0287 (calcugator example above).
    const { base, res } = outcomes(1, 11, 3, 5);
    const at95 = significanceVerdict(base, res, { test: 'mcnemar', level: 0.95 });
    expect(at95.pass).toBe(false);
    expect(at95.pValue).toBeCloseTo(0.0286865234375, 14);
    expect(at95.drop).toBeCloseTo(8 / 20, 14);
    expect(at95.statistic).toBeCloseTo(49 / 14, 14); // (|11 − 3| − 1)²/14
    expect(at95.text).toMatch(/significantly worse than the baseline at 95%/);
    expect(at95.text).toMatch(/^Accuracy dropped 40\.00 points \(60\.00% → 20\.00%\)/);
    expect(significanceVerdict(base, res, { test: 'mcnemar', level: 0.99 }).pass).toBe(true);
    // The mirror image (result better) passes at any level.
    expect(significanceVerdict(res, base, { test: 'mcnemar', level: 0.5 }).pass).toBe(true);
  });

  it('McNemar, strict reading: passes only when the result is shown better', () => {
    const { base, res } = outcomes(1, 3, 11, 5);
    expect(significanceVerdict(base, res, { test: 'mcnemar', reading: 'strict' }).pass).toBe(true);
    expect(significanceVerdict(base, res, { test: 'mcnemar', reading: 'strict', level: 0.99 }).pass).toBe(false);
    const same = new Uint8Array([1, 1, 0]);
    expect(significanceVerdict(same, same.slice(), { test: 'mcnemar', reading: 'strict' }).pass).toBe(false);
    expect(significanceVerdict(same, same.slice(), { test: 'mcnemar' }).pass).toBe(true);
  });

  it('McNemar refuses a non-zero maxDrop', () => {
    const x = new Uint8Array(3);
    expect(() => significanceVerdict(x, x, { test: 'mcnemar', maxDrop: 0.01 })).toThrow(/maxDrop must be 0/);
  });

  it('bootstrap, both readings, around an observed 1-point drop with SE ≈ 0.07 points', () => {
    // n = 100 000, b = 3000, c = 2000: drop 0.01, SE ≈ 0.000706, one-sided 95% bounds ≈ 0.01 ∓ 0.00116.
    const { base, res } = outcomes(90_000, 3000, 2000, 5000);
    const v = (maxDrop: number, reading: 'significant' | 'strict' = 'significant') =>
      significanceVerdict(base, res, { test: 'bootstrap', maxDrop, reading, samples: 4000, seed: 2 });
    const fail = v(0.005);
    expect(fail.pass).toBe(false);
    expect(fail.drop).toBeCloseTo(0.01, 14);
    expect(fail.statistic).toBe(fail.drop);
    expect(fail.interval![0]).toBeGreaterThan(0.0085);
    expect(fail.interval![0]).toBeLessThan(0.0095);
    expect(fail.interval![1]).toBeGreaterThan(0.0105);
    expect(fail.interval![1]).toBeLessThan(0.0115);
    expect(fail.text).toMatch(/significantly worse than allowed/);
    expect(fail.text).toMatch(/above the 0\.50-point limit/);
    expect(v(0.0095).pass).toBe(true); // within noise of the 1-point drop: not shown to exceed
    expect(v(0).pass).toBe(false);
    expect(v(0.02, 'strict').pass).toBe(true);
    expect(v(0.0105, 'strict').pass).toBe(false); // the upper bound is above the limit
    expect(v(0.0105, 'strict').text).toMatch(/not shown to be within/);
  });

  it('bootstrap interval ends are the one-sided bounds: the two-sided interval at 2·level − 1', () => {
    const { base, res } = outcomes(800, 60, 40, 100);
    const verdict = significanceVerdict(base, res, { test: 'bootstrap', level: 0.95, samples: 3000, seed: 9 });
    const boot = pairedBootstrap(base, res, { level: 0.9, samples: 3000, seed: 9 });
    expect(verdict.interval).toEqual([0 - boot.interval[1], 0 - boot.interval[0]]);
  });

  it('bootstrap and McNemar agree for a clear drop and for noise at maxDrop = 0', () => {
    const clear = outcomes(900, 50, 20, 30); // b − c = 30 over 70 discordant
    const noise = outcomes(900, 26, 24, 50);
    for (const test of ['mcnemar', 'bootstrap'] as const) {
      expect(significanceVerdict(clear.base, clear.res, { test, samples: 4000 }).pass).toBe(false);
      expect(significanceVerdict(noise.base, noise.res, { test, samples: 4000 }).pass).toBe(true);
    }
  });

  it('identical outcomes pass the significant reading with a [0, 0] interval', () => {
    const same = new Uint8Array([1, 0, 1, 1]);
    const v = significanceVerdict(same, same.slice(), { test: 'bootstrap', maxDrop: 0 });
    expect(v).toMatchObject({ pass: true, drop: 0, interval: [0, 0] });
    expect(v.text).toMatch(/not shown to exceed/);
  });

  it('rejects a level outside (0, 1) and a negative maxDrop', () => {
    const x = new Uint8Array(2);
    expect(() => significanceVerdict(x, x, { test: 'bootstrap', level: 0 })).toThrow(/level/);
    expect(() => significanceVerdict(x, x, { test: 'bootstrap', maxDrop: -0.1 })).toThrow(/maxDrop/);
  });
});
