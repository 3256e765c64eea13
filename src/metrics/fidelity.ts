/**
 * Fidelity to the baseline, measured on the same samples: how often the result predicts the baseline's class
 * (top-1 agreement), and the mean KL divergence KL(baseline ‖ result) of their output distributions. Unlike
 * accuracy it needs no labels, and it sees changes accuracy hides (two models can both be 98% right on
 * different digits). Outputs that are not probabilities (logits: negative values, or rows not summing to 1)
 * go through a softmax first. Pure, engine-free.
 */

export interface ClassifierFidelity {
  /** Fraction of samples where the result's top-1 class is the baseline's. */
  agreement: number;
  /** Mean over samples of Σ p·ln(p/q), p the baseline's distribution, q the result's (nats). */
  meanKl: number;
  /**
   * Fraction of samples where the baseline's top-1 class is among the result's k highest, k = min(5, classes − 1)
   * as for top-k accuracy; absent for 2 classes.
   */
  topKAgreement?: number;
}

/** Probabilities below this are clamped in the KL: a result that gives a class exactly 0 would make it infinite. */
const FLOOR = 1e-7;

export function measureFidelity(baseline: Float32Array, result: Float32Array, classes: number): ClassifierFidelity {
  if (baseline.length !== result.length || classes <= 0 || baseline.length % classes !== 0) {
    throw new Error(
      `fidelity: outputs of ${baseline.length} and ${result.length} values do not split into rows of ${classes}`,
    );
  }
  const n = baseline.length / classes;
  if (n === 0) return { agreement: 0, meanKl: 0 };
  const p = new Float64Array(classes);
  const q = new Float64Array(classes);
  const k = topK(classes);
  let agree = 0;
  let inTopK = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    toDistribution(baseline, i * classes, classes, p);
    toDistribution(result, i * classes, classes, q);
    const top = argMax(p);
    if (top === argMax(q)) agree++;
    // The baseline's class ranks below k of the result's (ties do not count against it).
    let above = 0;
    for (let c = 0; c < classes; c++) if (q[c]! > q[top]!) above++;
    if (above < k) inTopK++;
    let d = 0;
    for (let k = 0; k < classes; k++) if (p[k]! > 0) d += p[k]! * Math.log(p[k]! / Math.max(q[k]!, FLOOR));
    kl += Math.max(0, d);
  }
  return { agreement: agree / n, meanKl: kl / n, ...(k ? { topKAgreement: inTopK / n } : {}) };
}

/** The k of top-k accuracy and agreement: min(5, classes − 1), none for 2 classes or fewer. */
export function topK(classes: number): number {
  return classes > 2 ? Math.min(5, classes - 1) : 0;
}

/** One row as a probability distribution: as is when it already is one, else its softmax. */
export function toDistribution(values: Float32Array, offset: number, classes: number, out: Float64Array): void {
  let sum = 0;
  let negative = false;
  for (let k = 0; k < classes; k++) {
    const v = values[offset + k]!;
    if (v < 0) negative = true;
    sum += v;
  }
  if (!negative && Math.abs(sum - 1) < 1e-3) {
    for (let k = 0; k < classes; k++) out[k] = values[offset + k]! / sum;
    return;
  }
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, values[offset + k]!);
  let total = 0;
  for (let k = 0; k < classes; k++) total += out[k] = Math.exp(values[offset + k]! - max);
  for (let k = 0; k < classes; k++) out[k]! /= total;
}

function argMax(v: Float64Array): number {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k]! > v[best]!) best = k;
  return best;
}

/**
 * The paired outcomes of baseline and result on the same labelled samples, as the counts McNemar's test and
 * a paired bootstrap need: samples only the baseline gets right, and only the result gets right.
 */
export interface PairedOutcomes {
  count: number;
  baselineOnly: number;
  resultOnly: number;
}

export function pairedOutcomes(
  baseline: Float32Array,
  result: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
): PairedOutcomes {
  const n = labels.length;
  if (baseline.length !== n * classes || result.length !== n * classes)
    throw new Error(`paired outcomes: outputs do not match ${n} samples of ${classes} classes`);
  let baselineOnly = 0;
  let resultOnly = 0;
  for (let i = 0; i < n; i++) {
    const b = rowArgMax(baseline, i * classes, classes) === labels[i];
    const r = rowArgMax(result, i * classes, classes) === labels[i];
    if (b && !r) baselineOnly++;
    else if (r && !b) resultOnly++;
  }
  return { count: n, baselineOnly, resultOnly };
}

/** The first largest output of a row: the same top-1 the accuracy counts. */
function rowArgMax(v: Float32Array, offset: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (v[offset + k]! > v[offset + best]!) best = k;
  return best;
}
