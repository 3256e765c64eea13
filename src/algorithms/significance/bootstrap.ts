import { mulberry32 } from '../../util/random.js';
import { logFactorial } from './distributions.js';
import { checkLevel, discordant } from './paired.js';

export interface BootstrapOptions {
  /** Number of resamples (default 10 000). */
  samples?: number;
  /** Two-sided confidence level of the interval, in (0, 1) (default 0.95). */
  level?: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

export interface BootstrapResult {
  /** Observed result accuracy − baseline accuracy, (c − b)/n. */
  difference: number;
  /** Percentile interval [lo, hi] of the difference. */
  interval: [number, number];
  level: number;
  samples: number;
}

/**
 * One draw from Binomial(m, r) by inversion with `u` ∈ [0, 1), visiting the support in the fixed order
 * mode, mode+1, mode−1, mode+2, mode−2, … and returning the value at which the running pmf sum passes u.
 */
function binomialDraw(m: number, r: number, u: number): number {
  if (m === 0 || r <= 0) return 0;
  if (r >= 1) return m;
  const mode = Math.min(m, Math.floor((m + 1) * r));
  const logP =
    logFactorial(m) - logFactorial(mode) - logFactorial(m - mode) + mode * Math.log(r) + (m - mode) * Math.log1p(-r);
  const p0 = Math.exp(logP);
  const odds = r / (1 - r);
  u -= p0;
  if (u < 0) return mode;
  let up = mode;
  let pu = p0;
  let down = mode;
  let pd = p0;
  for (;;) {
    if (up < m) {
      pu *= ((m - up) / (up + 1)) * odds;
      up++;
      u -= pu;
      if (u < 0) return up;
    } else pu = 0;
    if (down > 0) {
      pd *= down / (m - down + 1) / odds;
      down--;
      u -= pd;
      if (u < 0) return down;
    } else pd = 0;
    // Both sides exhausted or underflowed: the pmf summed to just below u by rounding (probability ~1e-15).
    if (pu === 0 && pd === 0) return mode;
  }
}

/** Quantile of sorted values by linear interpolation between order statistics (R type 7). */
function quantile(sorted: Int32Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function pairedBootstrap(
  baselineCorrect: Uint8Array,
  resultCorrect: Uint8Array,
  options: BootstrapOptions = {},
): BootstrapResult {
  const { samples = 10_000, level = 0.95, seed = 1 } = options;
  if (!Number.isInteger(samples) || samples < 1)
    throw new Error(`pairedBootstrap: samples must be a positive integer, got ${samples}`);
  checkLevel(level, 'pairedBootstrap');
  const { b, c } = discordant(baselineCorrect, resultCorrect, 'pairedBootstrap');
  return bootstrapFromCounts(b, c, baselineCorrect.length, samples, level, seed);
}

/** pairedBootstrap from the discordant counts b and c of n pairs, options checked. */
export function bootstrapFromCounts(
  b: number,
  c: number,
  n: number,
  samples: number,
  level: number,
  seed: number,
): BootstrapResult {
  if (n === 0 || b + c === 0) return { difference: 0, interval: [0, 0], level, samples };
  const random = mulberry32(seed);
  const d = b + c;
  const pDiscordant = d / n;
  const pB = b / d;
  // C − B per resample; |C − B| ≤ n ≤ 2³¹ − 1.
  const diffs = new Int32Array(samples);
  for (let s = 0; s < samples; s++) {
    const k = binomialDraw(n, pDiscordant, random());
    const bDrawn = binomialDraw(k, pB, random());
    diffs[s] = k - 2 * bDrawn;
  }
  diffs.sort();
  const alpha = 1 - level;
  return {
    difference: (c - b) / n,
    interval: [quantile(diffs, alpha / 2) / n, quantile(diffs, 1 - alpha / 2) / n],
    level,
    samples,
  };
}
