/**
 * The interleaved latency comparison: the statistics on known timings (exact by hand), the gate that reads
 * them, and one real timing of two TF.js models whose compute differs ~300-fold (only the direction of the
 * ratio is asserted: how fast anything runs is the machine's business).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { layersInference, loadEngine } from '../../src/engine/runtime.js';
import { gate } from '../../src/gate/index.js';
import {
  compareLatency,
  MIN_PAIRS,
  pairedBootstrap,
  summarisePairs,
  type LatencyComparison,
} from '../../src/metrics/latency-compare.js';
import type { Metrics } from '../../src/metrics/index.js';

const median = (v: readonly number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ratioOfMedians = (a: readonly number[], b: readonly number[]) => median(a) / median(b);

describe('paired bootstrap', () => {
  it('two pairs: the resamples are {1,1}, {1,2} twice and {2,2}, so the ratio is 1, 2.5 or 4 with chances ¼, ½, ¼', () => {
    // Pair 1: baseline 1 ms, result 1 ms. Pair 2: baseline 4 ms, result 1 ms. Median of two = mean.
    const a = [1, 4];
    const b = [1, 1];
    expect(pairedBootstrap(a, b, ratioOfMedians, 0.95, 4000)).toEqual([1, 4]);
    // A 40% interval cuts 30% from each tail: both ends land in the middle outcome's half of the mass.
    expect(pairedBootstrap(a, b, ratioOfMedians, 0.4, 4000)).toEqual([2.5, 2.5]);
  });

  it('pairs are resampled whole: a result always exactly twice as fast gives exactly 2, whatever the noise between pairs', () => {
    const a = Array.from({ length: 41 }, (_, i) => 1 + ((i * 37) % 11));
    const b = a.map((x) => x / 2);
    expect(pairedBootstrap(a, b, ratioOfMedians)).toEqual([2, 2]);
  });

  it('is seeded (the same timings, the same interval) and narrows as pairs are added', () => {
    // Two unrelated sequences in [1, 2): the pairs share nothing, so the ratio is uncertain.
    const noisy = (n: number, k: number) =>
      Array.from({ length: n }, (_, i) => 1 + ((i * (k === 1 ? 37 : 61) + 17 * k) % 101) / 100);
    const few = [noisy(20, 1), noisy(20, 2)] as const;
    const many = [noisy(400, 1), noisy(400, 2)] as const;
    const i1 = pairedBootstrap(...few, ratioOfMedians);
    expect(pairedBootstrap(...few, ratioOfMedians)).toEqual(i1);
    const i2 = pairedBootstrap(...many, ratioOfMedians);
    expect(i2[1] - i2[0]).toBeLessThan(i1[1] - i1[0]);
    for (const [[lo, hi], [x, y]] of [
      [i1, few],
      [i2, many],
    ] as const) {
      expect(lo).toBeLessThanOrEqual(ratioOfMedians(x, y));
      expect(hi).toBeGreaterThanOrEqual(ratioOfMedians(x, y));
    }
  });

  it('one pair has nothing to resample: the interval is the estimate', () => {
    expect(pairedBootstrap([3], [2], ratioOfMedians)).toEqual([1.5, 1.5]);
  });
});

describe('summarisePairs', () => {
  it('medians, nearest-rank p95, fastest pass and both ratios from the timed pairs', () => {
    const base = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20 ms
    const result = base.map((x) => x / 4); // 0.25..5 ms
    const s = summarisePairs(8, base, result);
    expect(s).toMatchObject({ batchSize: 8, runs: 20, ratio: 4, p95Ratio: 4, interval: [4, 4], p95Interval: [4, 4] });
    expect(s.baseline).toEqual({ medianMs: 10.5, p95Ms: 19, minMs: 1, samplesMs: base });
    expect(s.result).toMatchObject({ medianMs: 2.625, p95Ms: 4.75, minMs: 0.25 });
  });
});

const metrics: Metrics = {
  accuracy: 0.9,
  correct: 90,
  count: 100,
  sizeBytes: 1,
  gzipBytes: 1,
  brotliBytes: 1,
  files: [],
  params: 1,
};

/** A comparison from hand-made timings: batch 1 (result 1.25x faster, noisy) and batch 32 (result 2x slower, exact). */
function comparison(): LatencyComparison {
  const b1 = Array.from({ length: 40 }, (_, i) => 1 + (((i * 13) % 7) - 3) / 10); // 0.7..1.3 ms, median 1
  const r1 = Array.from({ length: 40 }, (_, i) => 0.8 + (((i * 5) % 9) - 4) / 10); // 0.4..1.2 ms, median 0.8
  const b32 = Array.from({ length: 40 }, () => 10);
  return {
    order: 'ABBA',
    batches: [
      summarisePairs(1, b1, r1),
      summarisePairs(
        32,
        b32,
        b32.map((x) => x * 2),
      ),
    ],
    warmupRuns: 1,
    level: 0.95,
    resamples: 2000,
    backend: 'wasm',
    measuredAt: '2026-01-01T00:00:00.000Z',
    cores: 2,
    cpu: 'test',
  };
}

describe('latency thresholds', () => {
  it('minRatio reads the speed-up at batch 1 by default, and the batch size asked for', () => {
    const c = comparison();
    expect(c.batches[0]!.ratio).toBeCloseTo(1.25, 10);
    const v = gate({ latency: { minRatio: 1.2 } }, metrics, metrics, c);
    expect(v.checks).toHaveLength(1);
    expect(v.checks[0]).toMatchObject({ name: 'latency.minRatio', pass: true, limit: 1.2 });
    expect(v.checks[0]!.measured).toBeCloseTo(1.25, 10);
    expect(v.checks[0]!.text).toMatch(
      /^at batch 1 the result is 1\.25x faster than the baseline \(median 0\.800 ms vs 1\.000 ms, 40 interleaved pairs; 95% interval [\d.]+–[\d.]+x\); minimum speed-up 1\.2x$/,
    );
    expect(gate({ latency: { minRatio: 1.3 } }, metrics, metrics, c).pass).toBe(false);
    const slow = gate({ latency: { minRatio: 0.9, batchSize: 32 } }, metrics, metrics, c);
    expect(slow.checks[0]).toMatchObject({ pass: false, measured: 0.5 });
    expect(slow.checks[0]!.text).toContain('the result is 2.00x slower');
    expect(gate({ latency: { minRatio: 0.5, batchSize: 32 } }, metrics, metrics, c).pass).toBe(true);
  });

  it('significance: `significant` fails only when the interval lies below the limit, `strict` passes only when it lies above', () => {
    const c = comparison();
    const [lo, hi] = c.batches[0]!.interval;
    expect(lo).toBeLessThan(1.25);
    expect(hi).toBeGreaterThan(1.25);
    const between = (lo + 1.25) / 2; // above the lower end, below the estimate
    const above = (1.25 + hi) / 2; // above the estimate, below the upper end
    // Point estimate 1.25 < `above`: a plain gate fails, the significance reading does not (not shown slower).
    expect(gate({ latency: { minRatio: above } }, metrics, metrics, c).pass).toBe(false);
    expect(gate({ latency: { minRatio: above, significance: {} } }, metrics, metrics, c).pass).toBe(true);
    expect(gate({ latency: { minRatio: hi * 1.05, significance: {} } }, metrics, metrics, c).pass).toBe(false);
    // strict: 1.25 ≥ between, but the interval's lower end is not.
    expect(gate({ latency: { minRatio: between } }, metrics, metrics, c).pass).toBe(true);
    expect(
      gate({ latency: { minRatio: between, significance: { reading: 'strict' } } }, metrics, metrics, c).pass,
    ).toBe(false);
    expect(
      gate({ latency: { minRatio: lo * 0.95, significance: { reading: 'strict' } } }, metrics, metrics, c).pass,
    ).toBe(true);
    // A wider level (recomputed from the kept samples) widens the interval.
    const text = gate({ latency: { minRatio: 1, significance: { level: 0.99 } } }, metrics, metrics, c).checks[0]!.text;
    const [lo99, hi99] = text
      .match(/99% interval ([\d.]+)–([\d.]+)x/)!
      .slice(1)
      .map(Number) as [number, number];
    expect(lo99).toBeLessThanOrEqual(Number(lo.toFixed(2)));
    expect(hi99).toBeGreaterThanOrEqual(Number(hi.toFixed(2)));
  });

  it('a single pair (runtime.latency.runs: 1) gives no interval: strict never passes on it, significant never fails on it', () => {
    const c = comparison();
    c.batches = [summarisePairs(1, [1], [0.5])];
    const strict = gate(
      { latency: { minRatio: 1.5, significance: { reading: 'strict', level: 0.9 } } },
      metrics,
      metrics,
      c,
    );
    expect(strict.pass).toBe(false);
    expect(strict.checks[0]!.text).toMatch(/1 interleaved pair; no interval from a single pair/);
    expect(strict.checks[0]!.text).toMatch(/not shown to be within the limit/);
    expect(gate({ latency: { minRatio: 3, significance: {} } }, metrics, metrics, c).pass).toBe(true);
    expect(gate({ latency: { minRatio: 1.5 } }, metrics, metrics, c).pass).toBe(true);
  });

  it('p95 and maxMs read the slow tail and the result time of the interleaved run', () => {
    const c = comparison();
    const v = gate({ latency: { maxMs: 25, batchSize: 32, percentile: 95 } }, metrics, metrics, c);
    expect(v.checks[0]).toMatchObject({ name: 'latency.maxMs', pass: true, measured: 20 });
    expect(v.checks[0]!.text).toBe(
      "the result's p95 at batch 32 is 20.0 ms (40 runs, timed beside the baseline's 10.0 ms); limit 25.0 ms on this machine",
    );
    expect(gate({ latency: { maxMs: 19.9, batchSize: 32 } }, metrics, metrics, c).pass).toBe(false);
  });

  it('without the side-by-side timing a latency threshold fails and says to rebuild (never passes on nothing)', () => {
    const v = gate({ latency: { minRatio: 1, maxMs: 5 } }, metrics, metrics);
    expect(v.checks.map((c) => [c.name, c.pass])).toEqual([
      ['latency.minRatio', false],
      ['latency.maxMs', false],
    ]);
    expect(v.checks[0]!.text).toContain('were not timed side by side');
  });
});

describe('compareLatency on real TF.js models', () => {
  beforeAll(async () => {
    await loadEngine('wasm');
  });

  it('times both in ABBA pairs on the same inputs, keeps every sample, leaks no tensors, and sees a ~300x compute gap', async () => {
    const ds = await loadMnist('test', 16);
    const opts = { inputShape: ds.inputShape, numClasses: 10, seed: 1 };
    // 784·8 + 8·10 ≈ 6k MACs against 784·1024 + 1024·1024 + 1024·10 ≈ 1.9M MACs per sample.
    const small = buildArchitecture(tf, 'mlp', { hidden: [8] }, opts);
    const large = buildArchitecture(tf, 'mlp', { hidden: [1024, 1024] }, opts);
    const wrap = (m: tf.LayersModel) => layersInference(m, { keep: true });
    const before = tf.memory().numTensors;
    const c = await compareLatency(tf, wrap(large), wrap(small), ds, 'wasm', { batchSizes: [1, 32] });
    expect(tf.memory().numTensors).toBe(before);
    expect(c).toMatchObject({ order: 'ABBA', backend: 'wasm', level: 0.95, warmupRuns: 1 });
    expect(c.batches.map((b) => b.batchSize)).toEqual([1, 32]);
    for (const b of c.batches) {
      expect(b.runs).toBeGreaterThanOrEqual(MIN_PAIRS);
      expect(b.baseline.samplesMs).toHaveLength(b.runs);
      expect(b.result.samplesMs).toHaveLength(b.runs);
      expect(b.interval[0]).toBeLessThanOrEqual(b.ratio);
      expect(b.interval[1]).toBeGreaterThanOrEqual(b.ratio);
    }
    // The baseline here is the large model: the small "result" is faster by far at batch 32.
    expect(c.batches[1]!.ratio).toBeGreaterThan(2);
    const fixed = await compareLatency(tf, wrap(small), wrap(small), ds, 'wasm', {
      batchSizes: [4],
      runs: 7,
      warmup: 3,
    });
    expect(fixed.batches.map((b) => [b.batchSize, b.runs])).toEqual([[4, 7]]);
    expect(fixed.warmupRuns).toBe(3);
    small.dispose();
    large.dispose();
  });
});
