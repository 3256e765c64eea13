import { binomialHalfCdf, chiSquare1Sf, erfc } from './distributions.js';
import { discordant } from './paired.js';

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

/** One-sided P(X ≥ k), X ~ Binomial(n, ½); normal with continuity correction above EXACT_LIMIT. */
function upperTail(k: number, n: number): number {
  if (n === 0 || k <= 0) return 1;
  if (n <= EXACT_LIMIT) return Math.min(1, binomialHalfCdf(n - k, n)); // P(X ≥ k) = P(X ≤ n − k) by symmetry
  const z = (2 * k - n - 1) / Math.sqrt(n); // (k − n/2 − ½)/(√n/2)
  return Math.min(1, 0.5 * erfc(z / Math.SQRT2));
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
