/**
 * TF.js-free numerics the passes, the encoder and the gates share, each usable and tested on its own
 * (test/algorithms/). Nothing here imports from above util/ and errors.ts: no engine, no model format, no
 * recipe.
 *  - kmeans1d/: k-means on scalars (weight sharing), with a float32 radix sort and a fit on quantiles;
 *  - svd.ts: truncated SVD through the Gram matrix, and the rank rules of low-rank factorisation;
 *  - selection.ts: the smallest magnitudes and N:M selection, in place on float32 bit patterns;
 *  - sparsity-schedule.ts: Zhu & Gupta's polynomial sparsity schedule;
 *  - entropy.ts: codebooks, sparse (gap, symbol) pairs and the smallest DEFLATE streams;
 *  - significance/: McNemar's test and the paired bootstrap of paired outcomes.
 */
export * from './entropy.js';
export * from './kmeans1d/index.js';
export * from './selection.js';
export * from './significance/index.js';
export * from './sparsity-schedule.js';
export * from './svd.js';
