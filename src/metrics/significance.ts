/**
 * Statistical accuracy gates: the verdict a gate prints, from the paired tests of src/algorithms/significance/
 * (McNemar's test and the paired bootstrap; their module header says how each works).
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
import { bootstrapFromCounts, checkLevel, discordant, mcnemarFromCounts } from '../algorithms/significance/index.js';

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
