/**
 * How far the result's values are from the baseline's, for outputs of any kind (embeddings, regressions,
 * boxes, logits): what classifier fidelity (agreement, KL) cannot see. Pure, engine-free.
 */

export interface OutputDistance {
  /**
   * Mean over samples of the cosine similarity of the two output vectors of a sample; absent for outputs one
   * value wide, where it would only tell whether the sign flipped. Two zero vectors count as identical.
   */
  cosine?: number;
  /** Mean |result − baseline| over every value, relative to the range of the baseline's values (max − min). */
  meanRelError: number;
  /** The largest |result − baseline| of any value, relative to the same range. */
  maxRelError: number;
}

/**
 * `width` values per sample. The range is the baseline's over every sample and position, so an error is read
 * against the spread the output really has; a constant output falls back to its magnitude, then to 1.
 */
export function outputDistance(baseline: Float32Array, result: Float32Array, width: number): OutputDistance {
  if (baseline.length !== result.length || width <= 0 || baseline.length % width !== 0)
    throw new Error(
      `distance: outputs of ${baseline.length} and ${result.length} values do not split into rows of ${width}`,
    );
  const n = baseline.length / width;
  let min = Infinity;
  let max = -Infinity;
  let sumAbs = 0;
  let maxAbs = 0;
  for (let i = 0; i < baseline.length; i++) {
    const b = baseline[i]!;
    if (b < min) min = b;
    if (b > max) max = b;
    const d = Math.abs(result[i]! - b);
    sumAbs += d;
    if (d > maxAbs) maxAbs = d;
  }
  let range = max - min;
  if (!(range > 0)) range = Math.max(Math.abs(min), Math.abs(max));
  if (!(range > 0)) range = 1;
  const out: OutputDistance = {
    meanRelError: baseline.length ? sumAbs / baseline.length / range : 0,
    maxRelError: maxAbs / range,
  };
  if (width > 1 && n > 0) out.cosine = meanCosine(baseline, result, width);
  return out;
}

function meanCosine(a: Float32Array, b: Float32Array, width: number): number {
  const n = a.length / width;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let k = i * width, end = k + width; k < end; k++) {
      const x = a[k]!;
      const y = b[k]!;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    // Both zero: nothing changed. One zero: no direction in common.
    total += na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  }
  // Rounding can put a cosine a hair past ±1.
  return Math.max(-1, Math.min(1, total / n));
}

/** A cosine with digits enough to show how far from 1 it is (0.99999231, not 1.0000). */
export function showCosine(v: number): string {
  const gap = 1 - Math.abs(v);
  const digits = gap > 0 ? Math.min(12, Math.max(4, Math.ceil(-Math.log10(gap)) + 2)) : 4;
  return v.toFixed(digits);
}
