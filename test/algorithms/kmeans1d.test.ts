/**
 * 1-D k-means (src/algorithms/kmeans1d/): against a textbook O(nK) Lloyd, against the exact optimum found by
 * trying every split of small sorted inputs, and the float32 radix sort and quantile fit it rests on.
 */
import { describe, expect, it } from 'vitest';
import {
  clusterOf,
  compactNonZero,
  countKeyDigits,
  firstNonFinite,
  kmeans1d,
  kmeansOfQuantiles,
  sortFloat32,
} from '../../src/algorithms/kmeans1d/index.js';
import { mulberry32 } from '../../src/util/random.js';

/** A seeded sample of a bell-shaped distribution (sum of uniforms), like trained weights. */
function bell(n: number, seed: number, scale = 0.1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (random() + random() + random() + random() - 2) * scale);
}

function mseTo(values: ArrayLike<number>, centroids: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    let best = Infinity;
    for (let j = 0; j < centroids.length; j++) best = Math.min(best, (values[i]! - centroids[j]!) ** 2);
    s += best;
  }
  return s / values.length;
}

/** Textbook Lloyd: O(nK) nearest-centroid assignment, then means; until nothing changes. */
function bruteForceLloyd(values: ArrayLike<number>, init: number[]): number[] {
  let c = init.slice();
  const assignment = new Int32Array(values.length).fill(-1);
  for (let it = 0; it < 1000; it++) {
    let changed = false;
    for (let i = 0; i < values.length; i++) {
      let best = 0;
      for (let j = 1; j < c.length; j++) if (Math.abs(values[i]! - c[j]!) < Math.abs(values[i]! - c[best]!)) best = j;
      if (assignment[i] !== best) changed = true;
      assignment[i] = best;
    }
    if (!changed) break;
    const sum = new Float64Array(c.length);
    const count = new Int32Array(c.length);
    for (let i = 0; i < values.length; i++) {
      sum[assignment[i]!]! += values[i]!;
      count[assignment[i]!]!++;
    }
    expect(count.every((k) => k > 0)).toBe(true); // the reference does not handle empty clusters
    c = c.map((_, j) => sum[j]! / count[j]!);
  }
  return c;
}

describe('1-D k-means', () => {
  it('matches a brute-force Lloyd reference on a small random array', () => {
    const random = mulberry32(5);
    const values = Array.from({ length: 300 }, () => random() * 2 - 1);
    for (const k of [2, 5, 9]) {
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      const reference = bruteForceLloyd(
        values,
        Array.from({ length: k }, (_, j) => lo + ((hi - lo) * j) / (k - 1)),
      );
      const ours = kmeans1d(values, k, { init: 'linear', iterations: 1000, seed: 1 });
      expect(ours.converged).toBe(true);
      expect(Array.from(ours.centroids)).toHaveLength(k);
      Array.from(ours.centroids).forEach((c, j) => expect(c).toBeCloseTo(reference[j]!, 12));
      // the returned ranges are the nearest-centroid assignment
      for (const x of values) {
        const j = clusterOf(ours.upper, x);
        const nearest = Array.from(ours.centroids).reduce(
          (b, c, i, a) => (Math.abs(x - c) < Math.abs(x - a[b]!) ? i : b),
          0,
        );
        expect(j).toBe(nearest);
      }
    }
  });

  it('reaches a lower or equal error than the linear initialisation alone, with either init', () => {
    const values = bell(20_000, 2);
    const k = 16;
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of values) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
    const linearAlone = mseTo(
      values,
      Array.from({ length: k }, (_, j) => lo + ((hi - lo) * j) / (k - 1)),
    );
    for (const init of ['linear', 'kmeans++'] as const) {
      const r = kmeans1d(values, k, { init, iterations: 30, seed: 1 });
      expect(r.centroids).toHaveLength(k);
      // the error of the returned assignment (ranges → centroids), which is what the pass writes
      let sse = 0;
      for (const x of values) sse += (x - r.centroids[clusterOf(r.upper, x)]!) ** 2;
      expect(r.sse).toBeCloseTo(sse, 10);
      expect(mseTo(values, r.centroids)).toBeLessThanOrEqual(r.sse / values.length + 1e-15);
      expect(r.sse / values.length).toBeLessThanOrEqual(linearAlone);
    }
  });

  it('refills empty clusters: exactly k centroids whenever there are at least k distinct values', () => {
    // linear init on values bunched near 0 with one far outlier leaves most of its centres empty
    const values = [...bell(1000, 3, 0.01), 100];
    const r = kmeans1d(values, 8, { init: 'linear', iterations: 30, seed: 1 });
    expect(r.centroids).toHaveLength(8);
    for (let j = 1; j < 8; j++) expect(r.centroids[j]!).toBeGreaterThan(r.centroids[j - 1]!);
    expect(r.centroids[7]).toBe(100);
    // fewer distinct values than k: one centroid per value, no error
    expect(
      Array.from(kmeans1d([3, 1, 2, 1, 3, 3], 5, { init: 'kmeans++', iterations: 30, seed: 1 }).centroids),
    ).toEqual([1, 2, 3]);
    expect(Array.from(kmeans1d([3, 1, 2, 1, 3, 3], 5, { init: 'linear', iterations: 30, seed: 1 }).centroids)).toEqual([
      1, 2, 3,
    ]);
  });

  it('is fast: a million values into 256 clusters in well under the time of an O(nK) pass', () => {
    const values = bell(1_000_000, 4);
    const started = performance.now();
    const r = kmeans1d(values, 256, { init: 'kmeans++', iterations: 30, seed: 1 });
    const seconds = (performance.now() - started) / 1000;
    expect(r.centroids).toHaveLength(256);
    expect(seconds).toBeLessThan(3);
  });
});

/** Squared error of the sorted values xs[s..e) around their mean. */
function rangeSse(xs: readonly number[], s: number, e: number): number {
  let mean = 0;
  for (let i = s; i < e; i++) mean += xs[i]!;
  mean /= e - s;
  let sse = 0;
  for (let i = s; i < e; i++) sse += (xs[i]! - mean) ** 2;
  return sse;
}

/**
 * The optimal k-means error, by trying every way to cut the sorted values into k non-empty contiguous ranges
 * (an optimal 1-D clustering is one of them): C(n − 1, k − 1) candidates.
 */
function bruteForceOptimum(values: readonly number[], k: number): number {
  const xs = [...values].sort((a, b) => a - b);
  const best = (from: number, parts: number): number => {
    if (parts === 1) return rangeSse(xs, from, xs.length);
    let min = Infinity;
    for (let cut = from + 1; cut <= xs.length - parts + 1; cut++)
      min = Math.min(min, rangeSse(xs, from, cut) + best(cut, parts - 1));
    return min;
  };
  return best(0, k);
}

describe('1-D k-means against the exact optimum', () => {
  it('never beats the optimum (the error it reports is real), and converges to a Lloyd fixed point', () => {
    const random = mulberry32(11);
    for (let trial = 0; trial < 60; trial++) {
      const n = 6 + (trial % 9);
      const k = 2 + (trial % 4);
      const values = Array.from({ length: n }, () => Math.round((random() * 2 - 1) * 1000) / 1000);
      const optimum = bruteForceOptimum(values, k);
      for (const init of ['linear', 'kmeans++'] as const) {
        const r = kmeans1d(values, k, { init, iterations: 100, seed: trial });
        expect(r.converged).toBe(true);
        expect(r.sse).toBeGreaterThanOrEqual(optimum - 1e-12);
        // Fixed point: each value's nearest centroid is its cluster's, each centroid its cluster's mean.
        const members: number[][] = Array.from(r.centroids, () => []);
        for (const x of values) {
          const j = clusterOf(r.upper, x);
          for (const c of r.centroids)
            expect(Math.abs(x - r.centroids[j]!)).toBeLessThanOrEqual(Math.abs(x - c) + 1e-15);
          members[j]!.push(x);
        }
        members.forEach((m, j) => expect(r.centroids[j]).toBeCloseTo(m.reduce((a, b) => a + b, 0) / m.length, 12));
      }
    }
  });

  it('finds the optimum of well-separated groups from either initialisation', () => {
    const random = mulberry32(12);
    for (let trial = 0; trial < 20; trial++) {
      const k = 2 + (trial % 4);
      // k groups of 2–4 values, each within ±0.5 of its centre, centres 10 apart.
      const values = Array.from({ length: k }, (_, g) =>
        Array.from({ length: 2 + Math.floor(random() * 3) }, () => g * 10 + random() - 0.5),
      ).flat();
      const optimum = bruteForceOptimum(values, k);
      for (const init of ['linear', 'kmeans++'] as const) {
        const r = kmeans1d(values, k, { init, iterations: 100, seed: trial });
        expect(r.sse).toBeCloseTo(optimum, 12);
      }
    }
  });

  it('k at or above the number of distinct values: one centroid per value, no error', () => {
    const values = [0.5, -2, 0.5, 7, -2, 7, 7];
    for (const k of [3, 4, 10]) {
      const r = kmeans1d(values, k, { init: 'kmeans++', iterations: 30, seed: 3 });
      expect(Array.from(r.centroids)).toEqual([-2, 0.5, 7]);
      expect(Array.from(r.upper)).toEqual([-2, 0.5, 7]);
      expect(r.sse).toBe(0);
    }
    expect(kmeans1d([], 4, { init: 'linear', iterations: 30, seed: 1 }).centroids).toHaveLength(0);
  });
});

describe('float32 radix sort', () => {
  /** The digit counts and sort of `values` as the pass does it: scan, then two passes. */
  function radixSort(values: Float32Array): { sorted: Float32Array; nonZero: number } {
    const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
    const counts = new Int32Array(0x20000);
    const nonZero = countKeyDigits(bits, counts, true);
    const n = values.length;
    const sorted = sortFloat32(bits, new Int32Array(n), new Int32Array(n), counts);
    return { sorted, nonZero };
  }

  it('sorts as Float32Array.prototype.sort does, bit for bit (−0 before +0, denormals, huge values)', () => {
    const random = mulberry32(13);
    const special = [0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, -1, 0.5, 65504];
    for (const n of [1, 2, 17, 1000, 70_000]) {
      const values = Float32Array.from({ length: n }, (_, i) =>
        i % 7 === 0 ? special[i % special.length]! : (random() - 0.5) * 10 ** Math.floor(random() * 10 - 5),
      );
      const expected = Float32Array.from(values).sort();
      const { sorted, nonZero } = radixSort(Float32Array.from(values));
      const got = new Uint32Array(sorted.buffer, sorted.byteOffset, n);
      expect(got.every((u, i) => u === new Uint32Array(expected.buffer)[i])).toBe(true);
      expect(nonZero).toBe(values.filter((x) => x !== 0).length);
    }
  });

  it('skips a digit all keys share, and handles all-equal values (no pass at all)', () => {
    const sorts = (v: Float32Array) =>
      expect(Array.from(radixSort(Float32Array.from(v)).sorted)).toEqual(Array.from(Float32Array.from(v).sort()));
    // Equal values share both digits.
    sorts(new Float32Array(50).fill(-0.375));
    // 1 + i·2⁻²³ for i < 300 differ in the low 16 bits only: one pass, on the low digit.
    sorts(Float32Array.from({ length: 300 }, (_, i) => 1 + (299 - i) * 2 ** -23));
    // Powers of two differ in the high 16 bits only: one pass, on the high digit, straight back to bit patterns.
    sorts(Float32Array.from({ length: 60 }, (_, i) => (i % 2 ? -1 : 1) * 2 ** (((i * 37) % 61) - 30)));
  });

  it('reports non-finite values, and compacts the non-zero bit patterns in order', () => {
    const v = Float32Array.from([1, 0, -0, 2, Infinity, 3]);
    const bits = new Int32Array(v.buffer);
    expect(countKeyDigits(bits, new Int32Array(0x20000), true)).toBe(-1);
    expect(firstNonFinite(bits)).toBe(4);
    expect(firstNonFinite(new Int32Array(Float32Array.from([1, NaN]).buffer))).toBe(1);
    expect(firstNonFinite(new Int32Array(Float32Array.from([1, 2]).buffer))).toBe(-1);
    const kept = new Int32Array(5);
    compactNonZero(bits, kept);
    expect(Array.from(new Float32Array(kept.buffer).subarray(0, 4))).toEqual([1, 2, Infinity, 3]);
  });
});

describe('k-means on quantiles', () => {
  it('fits the quantiles as kmeans1d does, with the clusters of the nearest-centroid assignment of all values', () => {
    const values = bell(50_000, 14);
    values[5] = values[6]!; // a duplicate
    const bits = new Int32Array(values.buffer);
    const counts = new Int32Array(0x20000);
    countKeyDigits(bits, counts, false);
    const opts = { init: 'kmeans++', iterations: 30, seed: 2 } as const;
    const fit = kmeansOfQuantiles(bits, new Int32Array(values.length), counts, 8, opts, 4096)!;
    expect(fit).toBeDefined();
    // The quantiles: the values at evenly spaced ranks, where values whose sort keys share their high 16 bits
    // (sign, exponent and 7 mantissa bits) keep their original order.
    const high = Array.from(bits, (u) => (u ^ ((u >> 31) | 0x80000000)) >>> 16);
    const ranked = Array.from(values.keys())
      .sort((a, b) => high[a]! - high[b]! || a - b)
      .map((i) => values[i]!);
    const sample = Array.from({ length: 4096 }, (_, j) => ranked[Math.floor(((j + 0.5) * values.length) / 4096)]!);
    expect(Array.from(fit.centroids)).toEqual(Array.from(kmeans1d(sample, 8, opts).centroids));
    expect(fit.distinct).toBe(new Set(values).size);
    // Each value's cluster by nearest centroid; the smallest and largest value of each.
    const lo = new Array<number>(8).fill(Infinity);
    const hi = new Array<number>(8).fill(-Infinity);
    for (const x of values) {
      let j = 0;
      while (j + 1 < 8 && x > (fit.centroids[j]! + fit.centroids[j + 1]!) / 2) j++;
      lo[j] = Math.min(lo[j]!, x);
      hi[j] = Math.max(hi[j]!, x);
    }
    expect(Array.from(fit.lower)).toEqual(lo);
    expect(Array.from(fit.upper)).toEqual(hi);
  });

  it('gives up when the quantiles hold fewer distinct values than the clusters the values need', () => {
    // 9 distinct values, one of them all but 8 of the 100 000: the 64 quantiles are all that value.
    const values = new Float32Array(100_000).fill(0.25);
    for (let i = 0; i < 8; i++) values[i * 12_345] = i + 1;
    const bits = new Int32Array(values.buffer);
    const counts = new Int32Array(0x20000);
    countKeyDigits(bits, counts, false);
    const opts = { init: 'linear', iterations: 30, seed: 1 } as const;
    expect(kmeansOfQuantiles(bits, new Int32Array(values.length), counts, 4, opts, 64)).toBeUndefined();
  });
});
