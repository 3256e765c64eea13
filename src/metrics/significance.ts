/**
 * Statistical checks for accuracy gates: is a baseline → result accuracy drop real, or noise of a finite test
 * set? Both tests work on paired per-sample outcomes (1 = that sample was classified correctly, any non-zero
 * byte counts as 1), measured on the same samples by the baseline and the result. Pure, engine-free.
 *
 * Only the discordant samples carry information about the difference:
 *   b = baseline right, result wrong      c = baseline wrong, result right
 * so the accuracy difference (result − baseline) is (c − b)/n, and the drop (baseline − result) is (b − c)/n.
 *
 * `mcnemar` — McNemar's test of "both models are equally accurate" (H0: P(b-type) = P(c-type)). Given the
 * b + c discordant samples, b ~ Binomial(b + c, ½) under H0. Reported side by side:
 *   - the exact (conditional binomial) two-sided p = min(1, 2·P(X ≤ min(b, c))), computed in log space, for
 *     b + c ≤ EXACT_LIMIT (10 000); above that it is `null` and the chi-square p is the one used: at that many
 *     discordant pairs the two differ only in the third or fourth significant digit;
 *   - the chi-square statistic with continuity correction (|b − c| − 1)²/(b + c) (the correction is clamped at
 *     0 when b = c so it never makes equal counts look different) and its p-value from χ²(1):
 *     p = erfc(√(x/2));
 *   - the uncorrected statistic (b − c)²/(b + c) and its p, as printed in most textbooks;
 *   - one-sided p-values for "the result is worse" (H1: b-type more likely, P(X ≥ b)) and "the result is
 *     better" (P(X ≥ c)); exact within the limit, else normal with continuity correction.
 * b + c = 0 gives every p = 1.
 *
 * `pairedBootstrap` — percentile bootstrap interval of (result accuracy − baseline accuracy): resample the n
 * sample indices with replacement, recompute the difference, take the (1−level)/2 and (1+level)/2 quantiles
 * (linear interpolation between order statistics, R's type 7). It is done without drawing n indices per
 * resample, and exactly so: a resample's difference depends only on how many of its n draws land on b-type and
 * on c-type samples, and those counts (B, C, rest) are Multinomial(n; b/n, c/n, 1 − (b+c)/n). We draw that
 * multinomial as K = B + C ~ Binomial(n, (b+c)/n), then B | K ~ Binomial(K, b/(b+c)), C = K − B, each binomial
 * by inversion of its distribution function walked outward from the mode (any fixed order of the support gives
 * an exact inverse-CDF sampler; starting at the mode makes the walk O(standard deviation) long). Same
 * distribution as resampling indices, up to floating-point rounding of the pmf, at O(√n) cost per resample and
 * no allocation besides the one array of resampled differences. PRNG: the project's mulberry32, seeded, so a
 * seed always gives the same interval.
 *
 * `significanceVerdict` — what a gate calls. Let drop = baseline accuracy − result accuracy and maxDrop the
 * allowed drop (a fraction: 0.01 is one point). Two readings:
 *   - 'significant' (default, the honest gate): fail only when the data show, at the given level, that the true
 *     drop exceeds maxDrop — i.e. reject H0: drop ≤ maxDrop with a one-sided test of size 1 − level. A drop
 *     within noise passes. Bootstrap: fail when the one-sided lower confidence bound of the drop (its
 *     (1 − level) bootstrap quantile) is above maxDrop, i.e. the whole one-sided interval [bound, ∞) lies above
 *     the limit. We use one-sided bounds rather than the lower end of a two-sided `level` interval, whose error
 *     rate would be (1 − level)/2 instead of the 1 − level the user asked for, and which would disagree with the
 *     McNemar reading below. The reported interval is the two-sided one at level 2·level − 1 (90% for 0.95):
 *     its lower end is exactly the one-sided bound used, its upper end the bound the strict reading uses.
 *     McNemar tests a drop of exactly 0 only (its null has no margin), so it requires maxDrop = 0 (anything else
 *     is a configuration error, thrown): fail when b > c and the one-sided "result worse" p < 1 − level.
 *   - 'strict' (non-inferiority): pass only when the data show, at the given level, that the drop is within
 *     maxDrop. Bootstrap: pass when the one-sided upper confidence bound of the drop is ≤ maxDrop. McNemar
 *     (maxDrop = 0): pass only when the result is significantly better (c > b, one-sided "better" p <
 *     1 − level) — with a zero margin, "shown not worse" means "shown better". Small test sets fail this
 *     reading; that is its point.
 */
import { mulberry32 } from '../util/random.js';

/** Largest b + c for which the exact binomial p-values are computed (O(min(b, c)) each). */
export const EXACT_LIMIT = 10_000;

export interface McNemarResult {
  /** Number of paired samples. */
  n: number;
  /** Baseline right, result wrong. */
  b: number;
  /** Baseline wrong, result right. */
  c: number;
  /** Two-sided exact binomial p-value; null when b + c > EXACT_LIMIT. */
  exactPValue: number | null;
  /** Continuity-corrected statistic max(0, |b − c| − 1)²/(b + c) (0 when b + c = 0). */
  chiSquare: number;
  /** P(χ²₁ ≥ chiSquare). */
  chiSquarePValue: number;
  /** Uncorrected statistic (b − c)²/(b + c). */
  chiSquareUncorrected: number;
  chiSquareUncorrectedPValue: number;
  /** The two-sided p to use: exact when computed, else the corrected chi-square one. */
  pValue: number;
  /** Which of the two `pValue` is. */
  method: 'exact' | 'chi-square';
  /** One-sided p for H1 "the result is worse" (b-type more likely than c-type): P(X ≥ b), X ~ Bin(b + c, ½). */
  pWorse: number;
  /** One-sided p for H1 "the result is better": P(X ≥ c). */
  pBetter: number;
}

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

export type SignificanceTest = 'mcnemar' | 'bootstrap';

export interface VerdictOptions {
  test: SignificanceTest;
  /** Confidence level, in (0, 1) (default 0.95). */
  level?: number;
  /** Allowed drop in accuracy as a fraction, ≥ 0 (default 0). McNemar needs 0. */
  maxDrop?: number;
  /** 'significant' (default): fail only when shown to exceed maxDrop. 'strict': pass only when shown within it. */
  reading?: 'significant' | 'strict';
  /** Bootstrap resamples (default 10 000). */
  samples?: number;
  /** Bootstrap seed (default 1). */
  seed?: number;
}

export interface Verdict {
  pass: boolean;
  test: SignificanceTest;
  reading: 'significant' | 'strict';
  level: number;
  maxDrop: number;
  /** Observed drop, baseline accuracy − result accuracy. */
  drop: number;
  /** McNemar: the continuity-corrected χ²; bootstrap: the observed drop. */
  statistic: number;
  /** McNemar: the one-sided p the decision used. */
  pValue?: number;
  /** Bootstrap: two-sided interval of the drop at level 2·level − 1 (ends = the one-sided `level` bounds). */
  interval?: [number, number];
  /** One sentence for a person. */
  text: string;
}

// ---------------------------------------------------------------------------------------------------------
// Special functions

/**
 * Complementary error function, relative error ~1e-15 over the whole line (far below the 1e-7 needed). For
 * |x| < 2 the positive-term series erf(x) = 2/√π · e^(−x²) · Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)) (no cancellation
 * inside the sum; 1 − erf loses at most ~2.5 digits at x = 2); for x ≥ 2 the Laplace continued fraction
 * erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) by the modified Lentz method; erfc(−x) = 2 − erfc(x).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27) return 0; // below the smallest double
  // Continued fraction x + K_{k≥1} (k/2)/x, evaluated as f = 1/(x + a1/(x + a2/(x + …))).
  const tiny = 1e-300;
  let f = x;
  let C = f;
  let D = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    D = x + a * D;
    if (Math.abs(D) < tiny) D = tiny;
    C = x + a / C;
    if (Math.abs(C) < tiny) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** P(χ²₁ ≥ x). */
export function chiSquare1Sf(x: number): number {
  if (!(x > 0)) return 1;
  return erfc(Math.sqrt(x / 2));
}

const LOG_FACT_TABLE = (() => {
  const t = new Float64Array(256);
  for (let i = 2; i < 256; i++) t[i] = t[i - 1]! + Math.log(i);
  return t;
})();

/** ln(k!) for integer k ≥ 0: a table below 256, Stirling's series above (error < 1e-17 relative there). */
function logFactorial(k: number): number {
  if (k < 256) return LOG_FACT_TABLE[k]!;
  const inv = 1 / k;
  const inv2 = inv * inv;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/** P(X ≤ m) for X ~ Binomial(n, ½), summed in log space from the tail term inward. */
function binomialHalfCdf(m: number, n: number): number {
  if (m < 0) return 0;
  if (m >= n) return 1;
  if (2 * m >= n) return 1 - binomialHalfCdf(n - m - 1, n); // P(X ≤ m) = 1 − P(X ≥ m+1) = 1 − P(X ≤ n−m−1)
  // m < n/2: terms decrease going down from m (ratio k/(n−k+1) < 1), so Σ pmf(k)/pmf(m) ∈ [1, m+1].
  let ratio = 1;
  let sum = 1;
  for (let k = m; k > 0; k--) {
    ratio *= k / (n - k + 1);
    sum += ratio;
    if (ratio < sum * 1e-17) break;
  }
  const logPm = logFactorial(n) - logFactorial(m) - logFactorial(n - m) - n * Math.LN2;
  return Math.exp(logPm + Math.log(sum));
}

/** One-sided P(X ≥ k), X ~ Binomial(n, ½); normal with continuity correction above EXACT_LIMIT. */
function upperTail(k: number, n: number): number {
  if (n === 0 || k <= 0) return 1;
  if (n <= EXACT_LIMIT) return Math.min(1, binomialHalfCdf(n - k, n)); // P(X ≥ k) = P(X ≤ n − k) by symmetry
  const z = (2 * k - n - 1) / Math.sqrt(n); // (k − n/2 − ½)/(√n/2)
  return Math.min(1, 0.5 * erfc(z / Math.SQRT2));
}

// ---------------------------------------------------------------------------------------------------------
// McNemar

function discordant(baselineCorrect: Uint8Array, resultCorrect: Uint8Array, what: string): { b: number; c: number } {
  if (baselineCorrect.length !== resultCorrect.length) {
    throw new Error(`${what}: ${baselineCorrect.length} baseline outcomes but ${resultCorrect.length} result outcomes`);
  }
  let b = 0;
  let c = 0;
  for (let i = 0; i < baselineCorrect.length; i++) {
    const base = baselineCorrect[i]! !== 0;
    const res = resultCorrect[i]! !== 0;
    if (base && !res) b++;
    else if (!base && res) c++;
  }
  return { b, c };
}

export function mcnemar(baselineCorrect: Uint8Array, resultCorrect: Uint8Array): McNemarResult {
  const { b, c } = discordant(baselineCorrect, resultCorrect, 'mcnemar');
  return mcnemarFromCounts(b, c, baselineCorrect.length);
}

/** McNemar from the discordant counts (n, the number of pairs, is only carried along). */
export function mcnemarFromCounts(b: number, c: number, n = b + c): McNemarResult {
  const d = b + c;
  if (d === 0) {
    return {
      n,
      b,
      c,
      exactPValue: 1,
      chiSquare: 0,
      chiSquarePValue: 1,
      chiSquareUncorrected: 0,
      chiSquareUncorrectedPValue: 1,
      pValue: 1,
      method: 'exact',
      pWorse: 1,
      pBetter: 1,
    };
  }
  const corrected = Math.max(0, Math.abs(b - c) - 1) ** 2 / d;
  const uncorrected = (b - c) ** 2 / d;
  const exact = d <= EXACT_LIMIT ? Math.min(1, 2 * binomialHalfCdf(Math.min(b, c), d)) : null;
  const chiP = chiSquare1Sf(corrected);
  return {
    n,
    b,
    c,
    exactPValue: exact,
    chiSquare: corrected,
    chiSquarePValue: chiP,
    chiSquareUncorrected: uncorrected,
    chiSquareUncorrectedPValue: chiSquare1Sf(uncorrected),
    pValue: exact ?? chiP,
    method: exact === null ? 'chi-square' : 'exact',
    pWorse: upperTail(b, d),
    pBetter: upperTail(c, d),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Paired bootstrap

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

function checkLevel(level: number, what: string): void {
  if (!(level > 0 && level < 1)) throw new Error(`${what}: level must be in (0, 1), got ${level}`);
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

function bootstrapFromCounts(
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

// ---------------------------------------------------------------------------------------------------------
// Verdict

function points(x: number): string {
  const v = x * 100;
  return `${Math.abs(v) < 0.005 ? '0.00' : v.toFixed(2)} point${Math.abs(v) === 1 ? '' : 's'}`;
}

function limit(x: number): string {
  return `${(x * 100).toFixed(2)}-point limit`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function formatP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toPrecision(2);
}

/**
 * Whether a baseline → result accuracy drop is acceptable, judged statistically; see the module header for the
 * two readings and why. Throws a plain Error on mismatched lengths, a level outside (0, 1), a negative maxDrop,
 * or McNemar with maxDrop ≠ 0 (configuration errors the recipe layer should reject first).
 */
export function significanceVerdict(
  baselineCorrect: Uint8Array,
  resultCorrect: Uint8Array,
  options: VerdictOptions,
): Verdict {
  const { test, level = 0.95, maxDrop = 0, reading = 'significant', samples = 10_000, seed = 1 } = options;
  checkLevel(level, 'significanceVerdict');
  if (!(maxDrop >= 0)) throw new Error(`significanceVerdict: maxDrop must be ≥ 0, got ${maxDrop}`);
  const { b, c } = discordant(baselineCorrect, resultCorrect, 'significanceVerdict');
  const n = baselineCorrect.length;
  let baseRight = 0;
  for (let i = 0; i < n; i++) if (baselineCorrect[i]! !== 0) baseRight++;
  const baseAcc = n === 0 ? 0 : baseRight / n;
  const drop = n === 0 ? 0 : (b - c) / n;
  const resAcc = baseAcc - drop;
  const conf = `${+(level * 100).toFixed(2)}%`;
  const head = `Accuracy ${drop >= 0 ? 'dropped' : 'rose'} ${points(Math.abs(drop))} (${pct(baseAcc)} → ${pct(resAcc)})`;
  const alpha = 1 - level;

  if (test === 'mcnemar') {
    if (maxDrop !== 0) {
      throw new Error(
        `significanceVerdict: McNemar tests a drop of exactly 0, so maxDrop must be 0 (got ${maxDrop}); use the bootstrap test for a margin`,
      );
    }
    const m = mcnemarFromCounts(b, c, n);
    const counts = `${b} sample${b === 1 ? '' : 's'} got worse and ${c} better`;
    if (reading === 'significant') {
      const pass = !(b > c && m.pWorse < alpha);
      const text = pass
        ? `${head}: ${counts}, one-sided McNemar p = ${formatP(m.pWorse)} ≥ ${formatP(alpha)}, so it is not significantly worse than the baseline at ${conf}.`
        : `${head}: ${counts}, one-sided McNemar p = ${formatP(m.pWorse)} < ${formatP(alpha)}, so it is significantly worse than the baseline at ${conf}.`;
      return { pass, test, reading, level, maxDrop, drop, statistic: m.chiSquare, pValue: m.pWorse, text };
    }
    const pass = c > b && m.pBetter < alpha;
    const text = pass
      ? `${head}: ${counts}, one-sided McNemar p = ${formatP(m.pBetter)} < ${formatP(alpha)}, so it is shown not worse (indeed better) than the baseline at ${conf}.`
      : `${head}: ${counts}, one-sided McNemar p = ${formatP(m.pBetter)}, so it is not shown to be at least as good as the baseline at ${conf}.`;
    return { pass, test, reading, level, maxDrop, drop, statistic: m.chiSquare, pValue: m.pBetter, text };
  }

  // Bootstrap: the two-sided interval at 2·level − 1 has the one-sided `level` bounds as its ends.
  const boot = bootstrapFromCounts(b, c, n, samples, 2 * level - 1, seed);
  const interval: [number, number] = [0 - boot.interval[1], 0 - boot.interval[0]]; // of the drop (0 − x: no −0)
  const tail = `(paired bootstrap, ${samples} resamples)`;
  if (reading === 'significant') {
    const pass = !(interval[0] > maxDrop);
    const text = pass
      ? `${head}; at ${conf} confidence the drop is at least ${points(interval[0])}, not shown to exceed the ${limit(maxDrop)} ${tail}.`
      : `${head}; at ${conf} confidence the drop is at least ${points(interval[0])}, above the ${limit(maxDrop)}: significantly worse than allowed ${tail}.`;
    return { pass, test, reading, level, maxDrop, drop, statistic: drop, interval, text };
  }
  const pass = interval[1] <= maxDrop;
  const text = pass
    ? `${head}; at ${conf} confidence the drop is at most ${points(interval[1])}, within the ${limit(maxDrop)} ${tail}.`
    : `${head}; at ${conf} confidence the drop may be as large as ${points(interval[1])}, not shown to be within the ${limit(maxDrop)} ${tail}.`;
  return { pass, test, reading, level, maxDrop, drop, statistic: drop, interval, text };
}
