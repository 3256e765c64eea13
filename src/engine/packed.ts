/**
 * Encoder of the mcbuild packed weight format (docs/packed-format.md); the decoder is src/runtime/decode.ts,
 * shared with the runtime loader. The encoder returns the decoder's own output for the bytes it wrote (on
 * first use), and its error sink computes each decoded value with the decoder's arithmetic, so statistics
 * are computed on what the runtime will see.
 */
import { crc32 } from 'node:zlib';
import {
  decodePacked,
  packedLayout,
  type PackedDtype,
  type PackedGranularity,
  type PackedLayout,
  type PackedQuantization,
} from '../runtime/decode.js';
import {
  forEachRun,
  groupParams,
  mseRunAsymmetric,
  mseRunSymmetric,
  packRunAsymmetric,
  packRunSymmetric,
  rangeRun,
  type PackState,
} from './pack-loops.js';

export { roundHalfUp } from './pack-loops.js';

export interface PackOptions {
  dtype: PackedDtype;
  granularity: PackedGranularity;
  /** First output-channel axis (per-channel, per-group). */
  axis: number;
  groupSize?: number;
  symmetric: boolean;
  /** mse: per scale, the clipping ratio among CLIP_RATIOS with the lowest squared error (ratio 1 wins ties). */
  clip: 'none' | 'mse';
}

/** Candidate fractions of the observed range tried by `clip: mse`; 1 (no clipping) first, so it wins ties. */
export const CLIP_RATIOS = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5] as const;

export interface Packed {
  quantization: PackedQuantization;
  bytes: Uint8Array;
  /** decodePacked(bytes): exactly what the engine and the loader decode (computed on first use). */
  decoded: Float32Array;
  /** The float32 scale of each element's group (for error bounds; computed on first use). */
  scales: Float32Array;
}

export interface PackTarget {
  /** Where to write the bytes: exactly packedSize() of them, at any byte offset. A new buffer when absent. */
  into?: Uint8Array;
  /**
   * Accumulates |w − ŵ| of every element, in element order, with ŵ what the decoder yields: the largest
   * into `maxAbs`, the squares summed into `sumSq` (as the quantize pass reports its error).
   */
  errors?: { maxAbs: number; sumSq: number };
}

function plan(
  name: string,
  shape: number[],
  o: PackOptions,
): { quantization: PackedQuantization; layout: PackedLayout } {
  const quantization: PackedQuantization = {
    dtype: o.dtype,
    granularity: o.granularity,
    ...(o.granularity === 'per-tensor' ? {} : { axis: o.axis }),
    ...(o.granularity === 'per-group' ? { groupSize: o.groupSize! } : {}),
    symmetric: o.symmetric,
    scaleCount: 0,
    checksum: '',
    original_dtype: 'float32',
  };
  const layout = packedLayout({ name, shape, dtype: 'float32', quantization: { ...quantization } }, true);
  quantization.scaleCount = layout.scaleCount;
  return { quantization, layout };
}

/** Bytes packWeight writes for a weight of this shape with these options. */
export function packedSize(name: string, shape: number[], o: PackOptions): number {
  return plan(name, shape, o).layout.byteLength;
}

/**
 * Packs one weight group by group (a group's rows are read for its range, then again to pack them, while
 * they are still in cache), with the group's scale and offset of each channel in contiguous arrays.
 */
export function packWeight(
  name: string,
  shape: number[],
  values: Float32Array,
  o: PackOptions,
  target: PackTarget = {},
): Packed {
  const { quantization, layout } = plan(name, shape, o);
  const { n, scaleCount, bits } = layout;
  const C = layout.channels;
  const P = layout.groupsPerChannel;
  const cStep = C === 1 ? 0 : 1;
  const symmetric = o.symmetric;
  const qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
  const bytes = target.into ?? new Uint8Array(layout.byteLength);
  if (bytes.byteLength !== layout.byteLength)
    throw new Error(`packWeight(${name}): ${bytes.byteLength} bytes to write into, ${layout.byteLength} needed`);
  const ints = bytes.subarray(layout.scaleBytes);
  const errors = target.errors;
  const st: PackState = {
    acc: 0,
    shift: 0,
    at: 0,
    maxAbs: errors ? errors.maxAbs : 0,
    sumSq: errors ? errors.sumSq : 0,
  };
  const withErrors = errors !== undefined;

  // Every scale group's scale and offset, at c·P + g.
  const scale = new Float64Array(scaleCount);
  const offset = new Float64Array(scaleCount);
  // Per channel, for the current group: the range [min(w, 0), max(w, 0)], the chosen scale and offset.
  const lo = new Float64Array(C);
  const hi = new Float64Array(C);
  const gScale = new Float64Array(C);
  const gOffset = new Float64Array(C);
  // clip: mse: the candidates of a ratio, their squared errors, the lowest error so far.
  const mse =
    o.clip === 'mse'
      ? { scale: new Float64Array(C), offset: new Float64Array(C), err: new Float64Array(C), best: new Float64Array(C) }
      : undefined;
  for (let g = 0; g < P; g++) {
    lo.fill(0);
    hi.fill(0);
    forEachRun(layout, g, (i0, length, c0) => rangeRun(values, i0, length, c0, cStep, lo, hi));
    groupParams(lo, hi, symmetric, qmax, 1, gScale, gOffset);
    if (mse) {
      mse.best.fill(Number.POSITIVE_INFINITY);
      for (const ratio of CLIP_RATIOS) {
        groupParams(lo, hi, symmetric, qmax, ratio, mse.scale, mse.offset);
        mse.err.fill(0);
        forEachRun(
          layout,
          g,
          symmetric
            ? (i0, length, c0) => mseRunSymmetric(values, i0, length, c0, cStep, mse.scale, qmax, mse.err)
            : (i0, length, c0) => mseRunAsymmetric(values, i0, length, c0, cStep, mse.scale, mse.offset, qmax, mse.err),
        );
        for (let c = 0; c < C; c++) {
          if (mse.err[c]! < mse.best[c]!) {
            mse.best[c] = mse.err[c]!;
            gScale[c] = mse.scale[c]!;
            gOffset[c] = mse.offset[c]!;
          }
        }
      }
    }
    scatterGroup(gScale, gOffset, scale, offset, P, g);
    forEachRun(
      layout,
      g,
      symmetric
        ? (i0, length, c0) => packRunSymmetric(values, i0, length, c0, cStep, gScale, qmax, bits, ints, st, withErrors)
        : (i0, length, c0) =>
            packRunAsymmetric(values, i0, length, c0, cStep, gScale, gOffset, qmax, bits, ints, st, withErrors),
    );
  }
  if (st.shift > 0) ints[st.at] = st.acc;
  if (errors) {
    errors.maxAbs = st.maxAbs;
    errors.sumSq = st.sumSq;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let s = 0; s < scaleCount; s++) {
    view.setFloat32(4 * s, scale[s]!, true);
    if (!symmetric) view.setFloat32(4 * (scaleCount + s), offset[s]!, true);
  }
  quantization.checksum = `crc32:${(crc32(bytes) >>> 0).toString(16).padStart(8, '0')}`;

  const spec = { name, shape, dtype: 'float32', quantization: { ...quantization } };
  let decoded: Float32Array | undefined;
  let scales: Float32Array | undefined;
  return {
    quantization,
    bytes,
    get decoded() {
      return (decoded ??= decodePacked(spec, bytes));
    },
    get scales() {
      if (!scales) {
        const out = (scales = new Float32Array(n));
        for (let g = 0; g < P; g++) {
          gatherGroup(scale, offset, gScale, gOffset, P, g);
          forEachRun(layout, g, (i0, length, c0) => {
            for (let j = 0, c = c0; j < length; j++, c += cStep) out[i0 + j] = gScale[c]!;
          });
        }
      }
      return scales;
    },
  };
}

// Per scale group: from the per-channel arrays of group g to scale indices c·P + g, and back.

function scatterGroup(
  a: Float64Array,
  b: Float64Array,
  toA: Float64Array,
  toB: Float64Array,
  P: number,
  g: number,
): void {
  for (let c = 0; c < a.length; c++) {
    toA[c * P + g] = a[c]!;
    toB[c * P + g] = b[c]!;
  }
}

function gatherGroup(
  a: Float64Array,
  b: Float64Array,
  toA: Float64Array,
  toB: Float64Array,
  P: number,
  g: number,
): void {
  for (let c = 0; c < toA.length; c++) {
    toA[c] = a[c * P + g]!;
    toB[c] = b[c * P + g]!;
  }
}
