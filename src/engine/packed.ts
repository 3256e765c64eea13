/**
 * Encoder of the mcbuild packed weight format (docs/packed-format.md); the decoder is src/runtime/decode.ts,
 * shared with the runtime loader. The encoder returns the decoder's own output for the bytes it wrote, so
 * statistics are computed on what the runtime will see.
 */
import { checksum, decodePacked, packedLayout, scaleIndex, type PackedDtype, type PackedGranularity, type PackedQuantization } from '../runtime/decode.js';

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
  /** decodePacked(bytes): exactly what the engine and the loader decode. */
  decoded: Float32Array;
  /** The float32 scale of each element's group (for error bounds). */
  scales: Float32Array;
}

export function packWeight(name: string, shape: number[], values: Float32Array, o: PackOptions): Packed {
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
  const { n, scaleCount, bits } = layout;
  const sIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) sIdx[i] = scaleIndex(layout, i);
  const lo = new Float64Array(scaleCount).fill(0);
  const hi = new Float64Array(scaleCount).fill(0);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const s = sIdx[i]!;
    if (v < lo[s]!) lo[s] = v;
    if (v > hi[s]!) hi[s] = v;
  }
  const signedMax = (1 << (bits - 1)) - 1;
  const unsignedMax = (1 << bits) - 1;
  const params = (ratio: number, s: number): { scale: number; offset: number } => {
    if (o.symmetric) {
      const amax = Math.max(-lo[s]!, hi[s]!) * ratio;
      const scale = Math.fround(amax / signedMax);
      return { scale: scale > 0 && Number.isFinite(scale) ? scale : 1, offset: 0 };
    }
    const a = lo[s]! * ratio;
    const b = hi[s]! * ratio;
    let scale = Math.fround((b - a) / unsignedMax);
    if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
    const zero = Math.round(-a / scale); // a ≤ 0 ≤ b: zero lands on an integer (up to float32 rounding)
    return { scale, offset: Math.fround(-zero * scale) };
  };
  const quant = (v: number, p: { scale: number; offset: number }): number =>
    o.symmetric ? Math.min(signedMax, Math.max(-signedMax, Math.round(v / p.scale))) : Math.min(unsignedMax, Math.max(0, Math.round((v - p.offset) / p.scale)));
  const f32 = new Float32Array(1);
  const dequant = (k: number, p: { scale: number; offset: number }): number => {
    f32[0] = o.symmetric ? k * p.scale : k * p.scale + p.offset;
    return f32[0];
  };

  const chosen = Array.from({ length: scaleCount }, (_, s) => params(1, s));
  if (o.clip === 'mse') {
    const best = new Float64Array(scaleCount).fill(Number.POSITIVE_INFINITY);
    const err = new Float64Array(scaleCount);
    for (const ratio of CLIP_RATIOS) {
      const cand = Array.from({ length: scaleCount }, (_, s) => params(ratio, s));
      err.fill(0);
      for (let i = 0; i < n; i++) {
        const s = sIdx[i]!;
        const d = values[i]! - dequant(quant(values[i]!, cand[s]!), cand[s]!);
        err[s] += d * d;
      }
      for (let s = 0; s < scaleCount; s++) {
        if (err[s]! < best[s]!) {
          best[s] = err[s]!;
          chosen[s] = cand[s]!;
        }
      }
    }
  }

  const bytes = new Uint8Array(layout.byteLength);
  const view = new DataView(bytes.buffer);
  for (let s = 0; s < scaleCount; s++) {
    view.setFloat32(4 * s, chosen[s]!.scale, true);
    if (!o.symmetric) view.setFloat32(4 * (scaleCount + s), chosen[s]!.offset, true);
  }
  const ints = bytes.subarray(layout.scaleBytes);
  const mask = (1 << bits) - 1;
  for (let i = 0; i < n; i++) {
    const k = quant(values[i]!, chosen[sIdx[i]!]!);
    const bit = i * bits;
    ints[bit >> 3]! |= (k & mask) << (bit & 7);
  }
  quantization.checksum = checksum(bytes);
  const decoded = decodePacked({ name, shape, dtype: 'float32', quantization: { ...quantization } }, bytes);
  const scales = new Float32Array(n);
  for (let i = 0; i < n; i++) scales[i] = chosen[sIdx[i]!]!.scale;
  return { quantization, bytes, decoded, scales };
}
