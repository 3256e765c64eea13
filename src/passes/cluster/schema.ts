import type { OptionsSchema } from '../define.js';

/** The cluster pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    'Weight sharing (Deep Compression): k-means groups the values of each Dense, Conv2D and DepthwiseConv2D kernel (never biases, batch-norm or integer weights) into K clusters and replaces every weight by its centroid, so a kernel holds at most K distinct values (plus 0 when zeros are preserved). Exactly one of clusters and bits. Its output is float32; a later finetune keeps the assignment and trains the centroids.',
  type: 'object',
  additionalProperties: false,
  properties: {
    clusters: {
      description: 'Clusters K per kernel (2..65536); a kernel with fewer (non-zero) weights than K is an error.',
      type: 'integer',
      minimum: 2,
      maximum: 65536,
    },
    bits: {
      description: 'Shorthand for clusters: K = 2^bits (1..16), the index width a palettized format would store.',
      type: 'integer',
      minimum: 1,
      maximum: 16,
    },
    init: {
      description:
        'Centroid initialisation: kmeans++ (default; seeded D² sampling) or linear (evenly spaced between the smallest and largest weight, which Deep Compression found best).',
      enum: ['kmeans++', 'linear'],
    },
    iterations: {
      description: 'Lloyd iterations at most (default 30); stops earlier when the assignment no longer changes.',
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    },
    seed: {
      description: 'Seed for the kmeans++ initialisation (default 1).',
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    },
    preserveZeros: {
      description:
        'Weights that are exactly 0 (pruned) stay 0 and are not clustered (default true), so prune → cluster keeps the sparsity.',
      type: 'boolean',
    },
  },
};
