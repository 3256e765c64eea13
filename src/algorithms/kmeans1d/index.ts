/**
 * k-means on scalars (1-D), as weight sharing needs it (Han et al., Deep Compression): pure JS, no TF.js.
 *
 * In 1-D every cluster of an optimal (and of every Lloyd) assignment is a contiguous range of the sorted
 * values. So the values are sorted once (for float32 values, a radix sort of their bits: sortFloat32), and
 * each Lloyd iteration finds the K-1 boundaries between neighbouring centroids by binary search and each
 * centroid as a range mean from prefix sums: O(K log n) per iteration instead of O(nK). k-means++ seeding is
 * close to linear too: sums of the squared distances over blocks of √n values sample the next centre, and a
 * new centre only lowers the distances of a contiguous run of sorted values around it. Assigning a value
 * afterwards is a binary search over the clusters' largest values (clusterOf).
 *
 * On millions of values, kmeansOfQuantiles fits on evenly spaced quantiles instead of all values.
 */
export { compactNonZero, countKeyDigits, firstNonFinite, sortFloat32 } from './float-sort.js';
export { clusterOf, kmeans1d, kmeansSorted } from './kmeans.js';
export { kmeansOfQuantiles, type QuantileFit } from './quantiles.js';
export type { KMeans1D, KMeans1DOptions, Sorted, SortedFit } from './types.js';
