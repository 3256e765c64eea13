import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gate } from '../../src/gate/index.js';
import type { Metrics } from '../../src/metrics/index.js';
import { limitsFor, NAMED_METRICS } from '../../src/metrics/named.js';
import { ROOT } from '../helpers.js';

const baseline: Metrics = {
  accuracy: 0.9,
  correct: 900,
  count: 1000,
  sizeBytes: 400_000,
  gzipBytes: 360_000,
  brotliBytes: 350_000,
  files: [],
  params: 100_000,
  nonZeroParams: 100_000,
  topK: { k: 5, accuracy: 0.99, correct: 990 },
  perClass: [
    { class: 0, correct: 95, count: 100, accuracy: 0.95 },
    { class: 1, correct: 80, count: 100, accuracy: 0.8 },
    { class: 2, correct: 0, count: 0, accuracy: 0 }, // no sample of this class: not the worst class
  ],
  macs: 1_000_000,
  flops: 2_000_000,
  peakBytes: 4_000_000,
};
const result: Metrics = {
  ...baseline,
  accuracy: 0.88,
  correct: 880,
  sizeBytes: 100_000,
  params: 100_000,
  nonZeroParams: 25_000,
  topK: { k: 5, accuracy: 0.985, correct: 985 },
  perClass: [
    { class: 0, correct: 94, count: 100, accuracy: 0.94 },
    { class: 1, correct: 70, count: 100, accuracy: 0.7 },
    { class: 2, correct: 0, count: 0, accuracy: 0 },
  ],
  fidelity: { agreement: 0.97, meanKl: 0.012 },
  peakBytes: 2_500_000,
};

const check = (metrics: NonNullable<Parameters<typeof gate>[0]['metrics']>, r: Metrics = result) =>
  gate({ metrics }, baseline, r).checks;

describe('thresholds.metrics: one vocabulary of limits on every named metric', () => {
  it('min and max bound the result value (exactly at the limit passes)', () => {
    const c = check({ sparsity: { min: 0.75, max: 0.75 }, peakBytes: { max: 2_499_999 } });
    expect(c.map((x) => [x.name, x.pass, x.measured])).toEqual([
      ['metrics.sparsity.min', true, 0.75],
      ['metrics.sparsity.max', true, 0.75],
      ['metrics.peakBytes.max', false, 2_500_000],
    ]);
    expect(c[0]!.text).toBe('sparsity is 75.00%; minimum 75.00%');
    expect(c[2]!.text).toBe('peakBytes is 2.50 MB (2500000 bytes); maximum 2.50 MB (2499999 bytes)');
  });

  it('maxDrop and maxRelativeDrop on higher-is-better metrics, against the baseline', () => {
    const c = check({ worstClassAccuracy: { maxDrop: 0.1, maxRelativeDrop: 0.12 }, topKAccuracy: { maxDrop: 0.004 } });
    // Worst class: 0.8 → 0.7 (the empty class 2 does not count): a drop of 0.1, 12.5% of 0.8.
    expect(c[0]).toMatchObject({ name: 'metrics.worstClassAccuracy.maxDrop', pass: true });
    expect(c[0]!.measured).toBeCloseTo(0.1, 12);
    expect(c[0]!.text).toBe('worstClassAccuracy dropped by 10.00 pt (80.00% → 70.00%); limit 10.00 pt');
    expect(c[1]).toMatchObject({ name: 'metrics.worstClassAccuracy.maxRelativeDrop', pass: false });
    expect(c[1]!.measured).toBeCloseTo(0.125, 12);
    expect(c[2]).toMatchObject({ name: 'metrics.topKAccuracy.maxDrop', pass: false });
    expect(c[2]!.measured).toBeCloseTo(0.005, 12);
  });

  it('minRatio on lower-is-better metrics is baseline / result', () => {
    const c = check({ peakBytes: { minRatio: 1.6 }, nonZeroParams: { minRatio: 4.01 }, sizeBytes: { minRatio: 4 } });
    expect(c.map((x) => [x.name, x.pass, x.measured])).toEqual([
      ['metrics.peakBytes.minRatio', true, 1.6],
      ['metrics.nonZeroParams.minRatio', false, 4],
      ['metrics.sizeBytes.minRatio', true, 4],
    ]);
    expect(c[1]!.text).toBe("nonZeroParams is 4.00x smaller than the baseline's (100,000 → 25,000); minimum 4.01x");
  });

  it("fidelity metrics compare with the baseline's own value (agreement 1, KL 0)", () => {
    // Checks come in a fixed order per metric (min, max, maxDrop, maxRelativeDrop, minRatio), whatever the YAML's.
    const c = check({ agreement: { maxDrop: 0.03, min: 0.98 }, meanKl: { max: 0.01 } });
    expect(c.map((x) => [x.name, x.pass])).toEqual([
      ['metrics.agreement.min', false],
      ['metrics.agreement.maxDrop', true],
      ['metrics.meanKl.max', false],
    ]);
    expect(c[1]!.measured).toBeCloseTo(0.03, 12);
    expect(c[2]!.text).toBe('meanKl is 1.200e-2 nats; maximum 1.000e-2 nats');
  });

  it('a metric that was not measured fails with the reason, never passes on nothing', () => {
    const { macs: _m, fidelity: _f, ...unmeasured } = result;
    const c = check({ macs: { max: 1e12 }, agreement: { min: 0 } }, unmeasured);
    expect(c.map((x) => [x.name, x.pass])).toEqual([
      ['metrics.macs.max', false],
      ['metrics.agreement.min', false],
    ]);
    expect(c[0]!.text).toContain('was not measured (a graph model has no topology to count');
  });

  it('the published schema offers exactly the named metrics, each with the limits that make sense for it', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'recipe.schema.json'), 'utf8')) as {
      properties: {
        thresholds: {
          properties: { metrics: { properties: Record<string, { properties: Record<string, unknown> }> } };
        };
      };
    };
    const props = schema.properties.thresholds.properties.metrics.properties;
    expect(Object.keys(props).sort()).toEqual(NAMED_METRICS.map((m) => m.name).sort());
    for (const m of NAMED_METRICS)
      expect(Object.keys(props[m.name]!.properties).sort(), m.name).toEqual(limitsFor(m).sort());
  });
});
