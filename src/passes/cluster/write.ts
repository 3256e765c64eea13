/** Writing a clustered kernel: each value replaced by its cluster's centroid, and the kernel's statistics. */
import { clusterOf } from '../../algorithms/kmeans1d/index.js';

export interface ClusterLayerStats {
  weight: string;
  layer: string;
  /** Clusters used: K, or fewer when the kernel has fewer distinct values. */
  clusters: number;
  /** Distinct values of the kernel after clustering (the centroids, plus 0 when zeros were kept). */
  distinctValues: number;
  /** Distinct values before. */
  distinctBefore: number;
  zerosKept: number;
  meanSquaredError: number;
  /** Lloyd iterations run (on the sample, for a kernel fitted on one). */
  iterations: number;
  converged: boolean;
}

/** A kernel's fitted k-means: all writeKernel needs besides the values. */
export interface KernelFit {
  name: string;
  layer: string;
  centroids: Float32Array;
  upper: Float64Array;
  /** The smallest value of each cluster. */
  lower: Float64Array;
  distinct: number;
  nonZero: number;
  iterations: number;
  converged: boolean;
  /** The smallest clustered value and the width of their range. */
  min: number;
  width: number;
}

/** Writes each value's centroid into `out` (of the same length), kept zeros as they are; returns the statistics. */
export function writeKernel(values: Float32Array, out: Float32Array, fit: KernelFit, keep: boolean): ClusterLayerStats {
  const n = values.length;
  const { centroids, upper, lower, min, width, nonZero } = fit;
  const m = upper.length;
  // clusterOf without a search per value: the clustered values map to buckets 0 … B by ⌊(x − min)·B / width⌋,
  // a monotone function, so a bucket that no boundary between clusters falls in holds values of one cluster
  // only: the number of clusters whose largest value maps below it. The rare buckets with a boundary are
  // marked −1, and their values searched.
  const buckets = Math.min(1 << 16, Math.max(1024, 64 * m));
  const scale = width > 0 ? buckets / width : 0;
  const table = new Int32Array(buckets + 1);
  const bucketOf = (x: number) => ((x - min) * scale) | 0;
  for (let j = 0; j + 1 < m; j++) {
    const b = bucketOf(upper[j]!) + 1;
    if (b <= buckets) table[b]!++;
  }
  for (let b = 1; b <= buckets; b++) table[b]! += table[b - 1]!;
  // A boundary falls in a bucket when cluster j's largest value and cluster j + 1's smallest map to it.
  for (let j = 0; j + 1 < m; j++) {
    const b = bucketOf(upper[j]!);
    if (b === bucketOf(lower[j + 1]!)) table[b] = -1;
  }
  const sumSq = assignValues(values, out, keep, min, scale, table, upper, centroids);
  const zerosKept = keep ? n - nonZero : 0;
  // Distinct values of `out` (as a Set would count them: 0 and -0 are one value): the centroids (every
  // cluster holds at least one value: lower[j] ≤ upper[j]), plus 0 for kept zeros. Distinct values before:
  // those of the values clustered, plus 0 when zeros were left out of them.
  const after = new Set<number>(centroids);
  if (zerosKept > 0) after.add(0);
  const distinctBefore = fit.distinct + (keep && nonZero < n ? 1 : 0);
  return {
    weight: fit.name,
    layer: fit.layer,
    clusters: m,
    distinctValues: after.size,
    distinctBefore,
    zerosKept,
    meanSquaredError: n ? sumSq / n : 0,
    iterations: fit.iterations,
    converged: fit.converged,
  };
}

// The per-value loops of the pass are small functions with one loop and a primitive result: V8 optimizes a
// long loop while it runs (on-stack replacement), and code after the loop in the same function has then
// never run, so it deoptimizes there, on every call.

/**
 * Writes each value's centroid (kept zeros as they are) into `out` and returns the sum of squared changes,
 * summed in element order. `table` gives the cluster of each bucket, −1 for a bucket with a boundary.
 */
function assignValues(
  values: Float32Array,
  out: Float32Array,
  keep: boolean,
  min: number,
  scale: number,
  table: Int32Array,
  upper: Float64Array,
  centroids: Float32Array,
): number {
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (keep && x === 0) {
      out[i] = x;
      continue;
    }
    // min ≤ x ≤ max, so the truncation is the floor, from 0 to B.
    let j = table[((x - min) * scale) | 0]!;
    if (j < 0) j = clusterOf(upper, x);
    const c = centroids[j]!;
    out[i] = c;
    sumSq += (c - x) * (c - x);
  }
  return sumSq;
}
