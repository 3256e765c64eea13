import { countKeyDigits, fromKey, scatterKeys, sortFloat32, toOffsets } from './float-sort.js';
import { kmeansSorted } from './kmeans.js';
import { countDistinctKeys, Partitions } from './partitions.js';
import type { KMeans1DOptions } from './types.js';

/** A k-means fitted on quantiles, with the clusters it gives all values. */
export interface QuantileFit {
  /** Cluster centres, strictly increasing. */
  centroids: Float64Array;
  /** The largest value of each cluster, over all values. */
  upper: Float64Array;
  /** The smallest value of each cluster, over all values. */
  lower: Float64Array;
  /** Distinct values among all values (−0 and +0 count once). */
  distinct: number;
  iterations: number;
  converged: boolean;
}

/**
 * k-means of float32 values (bit patterns `bits`, none ±Infinity or NaN) into at most k clusters, fitted on
 * `size` evenly spaced quantiles of them instead of all: on millions of values, sorting them all and
 * seeding k-means++ on all of them costs far more than sorting the quantiles, for centroids hardly better.
 * The quantiles are exact to the precision of the partition below: values whose sort keys share their high 16
 * bits (sign, exponent and the top 7 bits of the mantissa) are ranked in their original order.
 * One partition of the values by the high half of their sort keys (the radix sort's second pass) gives the
 * quantiles, the exact number of distinct values, and each cluster's smallest and largest value: the clusters
 * are those of the nearest-centroid assignment of all values. `counts` must hold the high digit's counts of
 * `bits` (countKeyDigits) and is used up; `part` (n int32 at least) is scratch memory. Undefined (fit all
 * values instead) when the sample has fewer distinct values than clusters are needed, or a cluster would be
 * left without values.
 */
export function kmeansOfQuantiles(
  bits: Int32Array,
  part: Int32Array,
  counts: Int32Array,
  k: number,
  opts: KMeans1DOptions,
  size: number,
): QuantileFit | undefined {
  const n = bits.length;
  const starts = new Int32Array(0x10001);
  for (let d = 0; d < 0x10000; d++) starts[d + 1] = starts[d]! + counts[0x10000 + d]!;
  toOffsets(counts, 0x10000, n);
  const keys = part.subarray(0, n);
  scatterKeys(bits, keys, counts, 0x10000, 16, false);
  const distinct = countDistinctKeys(keys, starts);
  const sample = new Int32Array(size);
  for (let j = 0; j < size; j++) sample[j] = fromKey(keys[Math.floor(((j + 0.5) * n) / size)]!);
  const sampleCounts = new Int32Array(0x20000);
  countKeyDigits(sample, sampleCounts, true);
  const xs = sortFloat32(sample, new Int32Array(size), new Int32Array(size), sampleCounts);
  const km = kmeansSorted(xs, k, opts);
  const c = km.centroids;
  const m = c.length;
  if (m < Math.min(k, distinct)) return undefined;
  // Cluster j holds the values in (t[j−1], t[j]], t[j] the midpoint between centroids j and j + 1 (as in
  // Lloyd's assignment): its smallest and largest value, from the partitions around each midpoint.
  const parts = new Partitions(keys, starts);
  const lower = new Float64Array(m);
  const upper = new Float64Array(m);
  lower[0] = parts.min();
  upper[m - 1] = parts.max();
  for (let j = 0; j + 1 < m; j++) {
    const t = (c[j]! + c[j + 1]!) / 2;
    upper[j] = parts.largestAtMost(t);
    lower[j + 1] = parts.smallestAbove(t);
  }
  for (let j = 0; j < m; j++) if (!(lower[j]! <= upper[j]!)) return undefined;
  return { centroids: c, upper, lower, distinct, iterations: km.iterations, converged: km.converged };
}
