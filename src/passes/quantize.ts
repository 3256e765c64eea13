/**
 * quantize: store float32 weights in fewer bits, in the formats stock TF.js decodes by itself on load
 * (tf.loadLayersModel / tf.loadGraphModel read `quantization` entries of the weights manifest):
 *  - float16: IEEE half precision, round to nearest even;
 *  - uint8 / uint16: affine per tensor, value = q·scale + min, with min nudged so that 0.0 is exact
 *    (pruned zeros stay zeros), as the TF.js converter does.
 * Only float32 weights are quantized. The output's accuracy is measured on these stored bytes, decoded the
 * way TF.js decodes them, so the reported numbers are what the runtime will see.
 */
import { McbError } from '../errors.js';
import type { QuantizationDtype, WeightSpec } from '../engine/model-format.js';
import { decodeWeights, encodeWeights, float16ToFloat32, float32ToFloat16 } from '../engine/weights.js';
import { formatDataPath } from '../recipe/index.js';
import type { PassDefinition } from './types.js';

export interface QuantizeOptions {
  dtype: QuantizationDtype;
  granularity: 'per-tensor';
}

const BITS_TO_DTYPE: Record<number, QuantizationDtype> = { 8: 'uint8', 16: 'uint16' };

export const quantize: PassDefinition<QuantizeOptions> = {
  name: 'quantize',
  version: 1,
  summary: 'store weights as float16 or affine uint8/uint16 per tensor (decoded by stock TF.js)',
  dependsOnBackend: false,
  needs: [],

  resolveOptions(raw, place) {
    const fromBits = raw.bits === undefined ? undefined : BITS_TO_DTYPE[raw.bits as number];
    const dtype = raw.dtype as QuantizationDtype | undefined;
    if (dtype !== undefined && fromBits !== undefined && dtype !== fromBits) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath(place.path)}\` sets dtype ${dtype} and bits ${String(raw.bits)}, which disagree, at ${place.at('bits')}; keep one of them (bits: 8 means uint8, bits: 16 means uint16).`,
      );
    }
    return { dtype: dtype ?? fromBits ?? 'uint8', granularity: 'per-tensor' };
  },

  async apply(model, options) {
    let quantized = 0;
    let maxAbsError = 0;
    let sumSqError = 0;
    let values = 0;
    const out = encodeWeights(model.json, decodeWeights(model), (w) => {
      if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) return undefined;
      const enc = options.dtype === 'float16' ? toFloat16(w.values) : toAffine(w.values, options.dtype);
      quantized++;
      for (let i = 0; i < w.values.length; i++) {
        const err = Math.abs(w.values[i]! - enc.decoded[i]!);
        if (err > maxAbsError) maxAbsError = err;
        sumSqError += err * err;
      }
      values += w.values.length;
      const spec: WeightSpec = { ...w.spec, quantization: enc.quantization };
      return { spec, bytes: enc.bytes };
    });
    return {
      model: out,
      stats: {
        dtype: options.dtype,
        weightsQuantized: quantized,
        weightBytesBefore: model.weightData.byteLength,
        weightBytesAfter: out.weightData.byteLength,
        maxAbsError,
        rmsError: values ? Math.sqrt(sumSqError / values) : 0,
      },
    };
  },
};

interface Encoded {
  bytes: Uint8Array;
  quantization: WeightSpec['quantization'] & object;
  /** What TF.js will decode, for error statistics. */
  decoded: Float32Array;
}

function toFloat16(v: Float32Array): Encoded {
  const half = new Uint16Array(v.length);
  const decoded = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    half[i] = float32ToFloat16(v[i]!);
    decoded[i] = float16ToFloat32(half[i]!);
  }
  return { bytes: new Uint8Array(half.buffer), quantization: { dtype: 'float16' }, decoded };
}

/** The TF.js converter's affine range: scale over [min, max] with min nudged so that 0 maps to an integer. */
export function affineRange(min: number, max: number, qmax: number): { scale: number; min: number } {
  if (max === min) return { scale: 1, min };
  const scale = (max - min) / qmax;
  if (min <= 0 && 0 <= max) {
    const zeroPoint = Math.round(-min / scale);
    return { scale, min: -zeroPoint * scale };
  }
  return { scale, min };
}

function toAffine(v: Float32Array, dtype: 'uint8' | 'uint16'): Encoded {
  const qmax = dtype === 'uint8' ? 255 : 65535;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (v.length === 0) lo = hi = 0;
  const { scale, min } = affineRange(lo, hi, qmax);
  const q = dtype === 'uint8' ? new Uint8Array(v.length) : new Uint16Array(v.length);
  const decoded = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const k = Math.min(qmax, Math.max(0, Math.round((v[i]! - min) / scale)));
    q[i] = k;
    decoded[i] = k * scale + min;
  }
  return { bytes: new Uint8Array(q.buffer), quantization: { dtype, min, scale }, decoded };
}
