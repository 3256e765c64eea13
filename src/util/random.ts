/**
 * mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Training shuffles with it instead of
 * Math.random so the same recipe and seed give the same batches, hence the same weights.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of 0..n-1 driven by `random`. */
export function shuffledIndices(n: number, random: () => number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/** A 32-bit seed for draw `index` of a run seeded with `seed` (distinct indices give unrelated streams). */
export function derivedSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index >>> 0, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Runs `work` with Math.random drawing from mulberry32(`seed`), and puts Math.random back when `work` returns,
 * or when the promise it returns settles.
 *
 * Why: TF.js's random ops take their seed from Math.random when they are given none, and the noise layers of
 * users' models give none (Dropout without a `seed`, GaussianNoise, GaussianDropout, AlphaDropout), so
 * training such a model was not reproducible and its cached result depended on chance. Training installs a
 * seed derived from the recipe's seed and the batch around each step. Nothing else draws from Math.random
 * meanwhile: on wasm and cpu a training step's promises resolve as microtasks, so no other task runs.
 */
export function withSeededRandom<T>(seed: number, work: () => T): T {
  const original = Math.random;
  Math.random = mulberry32(seed);
  let result: T;
  try {
    result = work();
  } catch (error) {
    Math.random = original;
    throw error;
  }
  if (!(result instanceof Promise)) {
    Math.random = original;
    return result;
  }
  return result.finally(() => {
    Math.random = original;
  }) as T;
}
