/** The cluster pass's options, and where a recipe wrote them. */

export interface ClusterOptions {
  /** K, the number of clusters per kernel (`bits: b` resolves to 2^b, so both spellings share a cache key). */
  clusters: number;
  init: 'kmeans++' | 'linear';
  iterations: number;
  seed: number;
  preserveZeros: boolean;
}

/**
 * Where `clusters` / `bits` were written, per resolved options object, for the errors only apply() can see
 * (they depend on the model) when the executor passes no `ctx.place`. A source position must not go into
 * the options themselves: they are hashed into the step key, and moving a line must not invalidate it.
 */
export const written = new WeakMap<ClusterOptions, { option: 'clusters' | 'bits'; at: string; path: string }>();
