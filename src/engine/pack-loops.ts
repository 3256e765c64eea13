/**
 * The inner loops of the packed-format encoder (./packed.ts): rounding, per-group ranges and clipping errors,
 * and the bit packing itself. Each per-element loop is its own small function, called once per run of at
 * most RUN elements (forEachRun), so V8 optimizes each as a whole; keep them monomorphic and allocation-free.
 */
import type { PackedLayout } from '../runtime/decode.js';

/**
 * Math.round(t), also for NaN and ±Infinity, up to the sign of a zero result (+0 where Math.round gives −0,
 * which no caller can tell apart: they clamp at 0, truncate or square it) and for |t| ≥ 2^52 (every caller
 * clamps those to the integer range). V8 compiles
 * Math.round with a data-dependent branch that is mispredicted half the time on weights: ten times slower.
 * floor(t + 0.5) is exact for |t| < 2^52 except at the largest double below 0.5, where the sum rounds up to 1.
 */
export function roundHalfUp(t: number): number {
  const k = Math.floor(t + 0.5);
  return t === 0.49999999999999994 ? 0 : k;
}

/**
 * Runs of consecutive elements of scale group g (per channel), in storage order. Element i = r·C + c
 * (channel c, reduction index r) uses scale s = c·P + ⌊r / G⌋, so group g holds rows g·G … g·G + G − 1:
 * `run(i0, length, c0)` is called for elements i0 … i0 + length − 1 of channels c0, c0 + cStep, … (cStep is 0
 * when C = 1, where a run is a piece of one group). Runs hold at most RUN elements, so the functions doing the
 * per-element work are called many times and V8 optimizes them as a whole.
 */
const RUN = 4096;
export function forEachRun(l: PackedLayout, g: number, run: (i0: number, length: number, c0: number) => void): void {
  const { channels: C, reduction: R, groupSize: G } = l;
  const r0 = g * G;
  const r1 = Math.min(R, r0 + G);
  if (C === 1) {
    for (let i = r0; i < r1; i += RUN) run(i, Math.min(RUN, r1 - i), 0);
  } else {
    for (let r = r0; r < r1; r++) for (let c = 0; c < C; c += RUN) run(r * C + c, Math.min(RUN, C - c), c);
  }
}

/** Running state of the packing loop: the partial byte and the error sums. */
export interface PackState {
  acc: number;
  shift: number;
  at: number;
  maxAbs: number;
  sumSq: number;
}

/** The float32 scale (and offset) of every scale group for a clipping ratio, from its range [lo, hi] ∋ 0. */
export function groupParams(
  lo: Float64Array,
  hi: Float64Array,
  symmetric: boolean,
  qmax: number,
  ratio: number,
  scale: Float64Array,
  offset: Float64Array,
): void {
  for (let s = 0; s < lo.length; s++) {
    if (symmetric) {
      const amax = Math.max(-lo[s]!, hi[s]!) * ratio;
      const sc = Math.fround(amax / qmax);
      scale[s] = sc > 0 && Number.isFinite(sc) ? sc : 1;
      offset[s] = 0;
    } else {
      const a = lo[s]! * ratio;
      const b = hi[s]! * ratio;
      let sc = Math.fround((b - a) / qmax);
      if (!(sc > 0) || !Number.isFinite(sc)) sc = 1;
      const zero = Math.round(-a / sc); // a ≤ 0 ≤ b: zero lands on an integer (up to float32 rounding)
      scale[s] = sc;
      offset[s] = Math.fround(-zero * sc);
    }
  }
}

// The per-element loops, one function each (see forEachRun).

export function rangeRun(
  values: Float32Array,
  i0: number,
  length: number,
  c0: number,
  cStep: number,
  lo: Float64Array,
  hi: Float64Array,
): void {
  for (let j = 0, c = c0; j < length; j++, c += cStep) {
    const v = values[i0 + j]!;
    if (v < lo[c]!) lo[c] = v;
    if (v > hi[c]!) hi[c] = v;
  }
}

export function mseRunSymmetric(
  values: Float32Array,
  i0: number,
  length: number,
  c0: number,
  cStep: number,
  scale: Float64Array,
  qmax: number,
  err: Float64Array,
): void {
  for (let j = 0, c = c0; j < length; j++, c += cStep) {
    const v = values[i0 + j]!;
    const sc = scale[c]!;
    const k = Math.min(qmax, Math.max(-qmax, roundHalfUp(v / sc)));
    const d = v - Math.fround(k * sc);
    err[c]! += d * d;
  }
}

export function mseRunAsymmetric(
  values: Float32Array,
  i0: number,
  length: number,
  c0: number,
  cStep: number,
  scale: Float64Array,
  offset: Float64Array,
  qmax: number,
  err: Float64Array,
): void {
  for (let j = 0, c = c0; j < length; j++, c += cStep) {
    const v = values[i0 + j]!;
    const sc = scale[c]!;
    const of = offset[c]!;
    const k = Math.min(qmax, Math.max(0, roundHalfUp((v - of) / sc)));
    const d = v - Math.fround(k * sc + of);
    err[c]! += d * d;
  }
}

/**
 * Rounds to nearest with clamping to ±qmax and writes b bits per value, least significant first (b divides
 * 8, so whole bytes are written as they fill); `| 0` stores NaN as 0. With `withErrors`, adds |w − ŵ| with ŵ
 * computed as the decoder does (the double product rounded once to float32).
 */
export function packRunSymmetric(
  values: Float32Array,
  i0: number,
  length: number,
  c0: number,
  cStep: number,
  scale: Float64Array,
  qmax: number,
  bits: number,
  ints: Uint8Array,
  st: PackState,
  withErrors: boolean,
): void {
  const mask = (1 << bits) - 1;
  let { acc, shift, at, maxAbs, sumSq } = st;
  for (let j = 0, c = c0; j < length; j++, c += cStep) {
    const i = i0 + j;
    const v = values[i]!;
    const sc = scale[c]!;
    const k = Math.min(qmax, Math.max(-qmax, roundHalfUp(v / sc))) | 0;
    if (bits === 8) ints[i] = k;
    else {
      acc |= (k & mask) << shift;
      shift += bits;
      if (shift === 8) {
        ints[at++] = acc;
        acc = 0;
        shift = 0;
      }
    }
    if (withErrors) {
      const e = Math.abs(v - Math.fround(k * sc));
      if (e > maxAbs) maxAbs = e;
      sumSq += e * e;
    }
  }
  st.acc = acc;
  st.shift = shift;
  st.at = at;
  st.maxAbs = maxAbs;
  st.sumSq = sumSq;
}

export function packRunAsymmetric(
  values: Float32Array,
  i0: number,
  length: number,
  c0: number,
  cStep: number,
  scale: Float64Array,
  offset: Float64Array,
  qmax: number,
  bits: number,
  ints: Uint8Array,
  st: PackState,
  withErrors: boolean,
): void {
  let { acc, shift, at, maxAbs, sumSq } = st;
  for (let j = 0, c = c0; j < length; j++, c += cStep) {
    const i = i0 + j;
    const v = values[i]!;
    const sc = scale[c]!;
    const of = offset[c]!;
    const k = Math.min(qmax, Math.max(0, roundHalfUp((v - of) / sc))) | 0;
    if (bits === 8) ints[i] = k;
    else {
      acc |= k << shift;
      shift += bits;
      if (shift === 8) {
        ints[at++] = acc;
        acc = 0;
        shift = 0;
      }
    }
    if (withErrors) {
      const e = Math.abs(v - Math.fround(k * sc + of));
      if (e > maxAbs) maxAbs = e;
      sumSq += e * e;
    }
  }
  st.acc = acc;
  st.shift = shift;
  st.at = at;
  st.maxAbs = maxAbs;
  st.sumSq = sumSq;
}
