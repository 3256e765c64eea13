/**
 * Lloyd's algorithm on sorted scalars, where each cluster of an optimal (and of every Lloyd) assignment is a
 * contiguous range of the sorted values: each iteration finds the K−1 boundaries between neighbouring
 * centroids by binary search and each centroid as a range mean from prefix sums, O(K log n) instead of O(nK).
 */
import { kmeansPlusPlusInit } from './kmeans-plus-plus.js';
import { MaxHeap } from './max-heap.js';
import { Ranges } from './ranges.js';
import type { KMeans1D, KMeans1DOptions, Sorted, SortedFit } from './types.js';

// The per-value loops are small functions with one loop and a primitive result: V8 optimizes a long loop
// while it runs (on-stack replacement), and code after the loop in the same function has then never run, so
// it deoptimizes there, on every call.

/** Index of the cluster of `x`: the first j with x ≤ upper[j] (the last cluster for anything larger). */
export function clusterOf(upper: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = upper.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= upper[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * k-means of scalar values into at most k clusters (fewer only when there are fewer distinct values).
 * Lloyd's algorithm on the sorted values, where each cluster is a contiguous range [starts[j], starts[j+1]).
 * A cluster left empty is refilled by splitting the extreme value group off the cluster with the largest
 * squared error (which lowers the error), so the result has exactly min(k, distinct) clusters.
 */
export function kmeans1d(values: ArrayLike<number>, k: number, opts: KMeans1DOptions): KMeans1D {
  const xs = Float64Array.from(values).sort();
  const { centroids, upper, iterations, converged, starts } = kmeansSorted(xs, k, opts);
  let sse = 0;
  for (let j = 0; j < centroids.length; j++) sse = addSquares(xs, starts[j]!, starts[j + 1]!, centroids[j]!, sse);
  return { centroids, upper, iterations, converged, sse };
}

/**
 * kmeans1d on values already sorted ascending. `d2` (n doubles) is scratch memory for the k-means++ distances.
 */
export function kmeansSorted(xs: Sorted, k: number, opts: KMeans1DOptions, d2?: Float64Array): SortedFit {
  const n = xs.length;
  if (n === 0 || k < 1)
    return {
      centroids: new Float64Array(0),
      upper: new Float64Array(0),
      lower: new Float64Array(0),
      starts: Int32Array.of(0),
      iterations: 0,
      converged: true,
      distinct: 0,
    };
  let centroids: Float64Array;
  let distinct: number;
  const checkpoints = new Float64Array((n >> 4) + 1);
  if (opts.init === 'linear') {
    distinct = countDistinct(xs, checkpoints);
    centroids = linearInit(xs, k);
  } else {
    ({ centroids, distinct } = kmeansPlusPlusInit(xs, k, opts.seed, d2 ?? new Float64Array(n), checkpoints));
  }
  const target = Math.min(k, distinct);
  const ranges = new Ranges(xs, checkpoints);
  let previous: Int32Array | undefined;
  let iterations = 0;
  let converged = false;
  for (; iterations < Math.max(1, opts.iterations); iterations++) {
    const starts = refill(ranges, assign(xs, centroids), target);
    if (previous && sameStarts(previous, starts)) {
      converged = true;
      break;
    }
    centroids = means(ranges, starts);
    previous = starts;
  }
  const starts = previous!;
  const m = starts.length - 1;
  const upper = new Float64Array(m);
  const lower = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    upper[j] = xs[starts[j + 1]! - 1]!;
    lower[j] = xs[starts[j]!]!;
  }
  return { centroids, upper, lower, starts, iterations, converged, distinct };
}

/** The number of distinct values of xs (sorted); also the running sums at every 16th index into `checkpoints` (see Ranges). */
function countDistinct(xs: Sorted, checkpoints: Float64Array): number {
  let distinct = 1;
  let prev = xs[0]!;
  let total = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    distinct += x !== prev ? 1 : 0;
    prev = x;
    if ((i & 15) === 0) checkpoints[i >> 4] = total;
    total += x;
  }
  return distinct;
}

/** sse + the squared distances of xs[from..to) to c, added in order. */
function addSquares(xs: Sorted, from: number, to: number, c: number, sse: number): number {
  for (let i = from; i < to; i++) {
    const d = xs[i]! - c;
    sse += d * d;
  }
  return sse;
}

/** Deep Compression's linear initialisation: k centres evenly spaced between the smallest and largest value. */
function linearInit(xs: Sorted, k: number): Float64Array {
  const lo = xs[0]!;
  const hi = xs[xs.length - 1]!;
  if (k === 1 || lo === hi) return Float64Array.of(lo);
  const c = new Float64Array(k);
  for (let j = 0; j < k; j++) c[j] = lo + ((hi - lo) * j) / (k - 1);
  return c;
}

/** The nearest-centroid assignment as ranges: a value goes to cluster j when it is ≤ the midpoint to c[j+1]. */
function assign(xs: Sorted, c: Float64Array): Int32Array {
  const m = c.length;
  const starts = new Int32Array(m + 1);
  starts[m] = xs.length;
  let from = 0;
  for (let j = 0; j + 1 < m; j++) {
    const boundary = (c[j]! + c[j + 1]!) / 2;
    // first index with xs[i] > boundary, searching from the previous boundary on (boundaries increase)
    let lo = from;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid]! <= boundary) lo = mid + 1;
      else hi = mid;
    }
    starts[j + 1] = from = lo;
  }
  return starts;
}

/**
 * Drops empty ranges, then, while fewer than `target` clusters remain, splits the cluster with the largest
 * squared error that holds more than one distinct value: its extreme value group farther from its mean
 * becomes a cluster of its own. Ranges always split between different values.
 */
function refill(r: Ranges, starts: Int32Array, target: number): Int32Array {
  const bounds: number[] = [0];
  for (let j = 1; j < starts.length; j++) if (starts[j]! > bounds[bounds.length - 1]!) bounds.push(starts[j]!);
  if (bounds.length - 1 >= target) return bounds.length === starts.length ? starts : Int32Array.from(bounds);
  const { xs } = r;
  const heap = new MaxHeap();
  const offer = (s: number, e: number) => {
    if (xs[s]! < xs[e - 1]!) heap.push(s, e, sse(r, s, e));
  };
  for (let j = 0; j + 1 < bounds.length; j++) offer(bounds[j]!, bounds[j + 1]!);
  let count = bounds.length - 1;
  while (count < target && heap.size > 0) {
    const [s, e] = heap.pop();
    const mean = (r.s1(e) - r.s1(s)) / (e - s);
    let g: number;
    if (mean - xs[s]! > xs[e - 1]! - mean) {
      g = s + 1;
      while (xs[g] === xs[s]) g++;
    } else {
      g = e - 1;
      while (xs[g - 1] === xs[e - 1]) g--;
    }
    bounds.push(g);
    count++;
    offer(s, g);
    offer(g, e);
  }
  return Int32Array.from(bounds).sort();
}

function sse(r: Ranges, s: number, e: number): number {
  const sum = r.s1(e) - r.s1(s);
  return Math.max(0, r.s2(e) - r.s2(s) - (sum * sum) / (e - s));
}

/** Each range's mean, kept inside the range (so centroids stay strictly increasing despite rounding). */
function means(r: Ranges, starts: Int32Array): Float64Array {
  const m = starts.length - 1;
  const c = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const s = starts[j]!;
    const e = starts[j + 1]!;
    c[j] = Math.min(r.xs[e - 1]!, Math.max(r.xs[s]!, (r.s1(e) - r.s1(s)) / (e - s)));
  }
  return c;
}

function sameStarts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
