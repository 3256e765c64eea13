/** The options and results of 1-D k-means, and the sorted values it works on. */

export interface KMeans1DOptions {
  init: 'kmeans++' | 'linear';
  /** Lloyd iterations at most; it stops earlier when the assignment no longer changes. */
  iterations: number;
  seed: number;
}

export interface KMeans1D {
  /** Cluster centres, strictly increasing; min(k, distinct values) of them. */
  centroids: Float64Array;
  /** The largest value of each cluster: x belongs to the first cluster j with x ≤ upper[j]. */
  upper: Float64Array;
  /** Lloyd iterations run (assignment + update). */
  iterations: number;
  /** True when the last iteration left the assignment unchanged. */
  converged: boolean;
  /** Sum of squared distances of the values to their centroids. */
  sse: number;
}

/** Values sorted ascending: float32 as models store them (sortFloat32), float64 from kmeans1d. */
export type Sorted = Float32Array | Float64Array;

/** kmeansSorted's result: the clusters as ranges of the sorted values. */
export interface SortedFit {
  centroids: Float64Array;
  upper: Float64Array;
  /** The smallest value of each cluster. */
  lower: Float64Array;
  /** Where each cluster's range of the sorted values starts, then n. */
  starts: Int32Array;
  iterations: number;
  converged: boolean;
  /** Distinct values among the sorted ones. */
  distinct: number;
}
