/**
 * quantize: store float32 weights in fewer bits, in the formats stock TF.js decodes by itself on load
 * (tf.loadLayersModel / tf.loadGraphModel read `quantization` entries of the weights manifest):
 *  - float16: IEEE half precision, round to nearest even;
 *  - uint8 / uint16: affine per tensor, value = q·scale + min, with min nudged so that 0.0 is exact
 *    (pruned zeros stay zeros), as the TF.js converter does.
 * and, in mcbuild's packed format (docs/packed-format.md) that stock TF.js refuses and `mcbuild/runtime` decodes:
 *  - int8 / int4 / int2: per tensor, per output channel or per group, symmetric (default) or asymmetric,
 *    rounding to nearest, optionally with MSE-optimal clipping. Only float32 kernels of Dense, Conv2D and
 *    DepthwiseConv2D layers are packed; biases, batch-norm and other weights stay float32.
 * Only float32 weights are quantized (int32 weights never are; they are counted in `weightsSkipped`). The
 * output's accuracy is measured on these stored bytes, decoded the way the runtime decodes them, so the
 * reported numbers are what the runtime will see.
 */
import { McbError } from '../errors.js';
import type { QuantizationDtype, WeightSpec } from '../engine/model-format.js';
import { packWeight } from '../engine/packed.js';
import { decodeWeights, encodeWeights, float16ToFloat32, float32ToFloat16, type DecodedWeight } from '../engine/weights.js';
import type { PackedDtype } from '../runtime/decode.js';
import { layerClasses } from './cluster.js';
import { formatDataPath } from '../recipe/index.js';
import type { PassDefinition } from './types.js';

export type QuantizeOptions =
  | { dtype: 'float16' | 'uint8' | 'uint16'; granularity: 'per-tensor' }
  | {
      dtype: PackedDtype;
      granularity: 'per-tensor' | 'per-channel' | 'per-group';
      /** per-group only. */
      groupSize?: number;
      symmetric: boolean;
      clip: 'none' | 'mse';
    };

const BITS_TO_DTYPE: Record<number, QuantizationDtype> = { 8: 'uint8', 16: 'uint16', 4: 'int4', 2: 'int2' };
const PACKED: readonly string[] = ['int8', 'int4', 'int2'];
/** Layer classes whose kernels get the packed formats, the kernel's name and its first output-channel axis (−1: last). */
const KERNELS: Readonly<Record<string, { weight: string; axis: number }>> = {
  Dense: { weight: 'kernel', axis: -1 },
  Conv2D: { weight: 'kernel', axis: -1 },
  DepthwiseConv2D: { weight: 'depthwise_kernel', axis: 2 },
};

export const quantize: PassDefinition<QuantizeOptions> = {
  name: 'quantize',
  version: 1,
  summary: 'store weights as float16 or affine uint8/uint16 per tensor (stock TF.js), or packed int8/int4/int2 (mcbuild/runtime)',
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
    const resolved = dtype ?? fromBits ?? 'uint8';
    const path = formatDataPath(place.path);
    const refuse = (option: string, why: string): never => {
      throw new McbError('MCB_RECIPE_INVALID', `\`${path}\` ${why}, at ${place.at(option)}.`);
    };
    const granularity = (raw.granularity as string | undefined) ?? 'per-tensor';
    if (!PACKED.includes(resolved)) {
      // TF.js's own formats: one min and scale per tensor (or float16), asymmetric by definition.
      if (granularity !== 'per-tensor') refuse('granularity', `sets granularity ${granularity} with dtype ${resolved}, which TF.js stores per tensor only; use dtype int8, int4 or int2 for ${granularity}`);
      if (raw.symmetric === true) refuse('symmetric', `sets symmetric: true with dtype ${resolved}; TF.js's ${resolved} format is ${resolved === 'float16' ? 'not affine' : 'affine (min and scale)'}, use dtype int8, int4 or int2 for symmetric quantization`);
      if (raw.symmetric === false && resolved === 'float16') refuse('symmetric', 'sets symmetric with dtype float16, which has no range to make symmetric');
      if (raw.clip !== undefined && raw.clip !== 'none') refuse('clip', `sets clip ${String(raw.clip)} with dtype ${resolved}; clipping applies to int8, int4 and int2`);
      if (raw.groupSize !== undefined) refuse('groupSize', `sets groupSize with dtype ${resolved}; groups apply to int8, int4 and int2 with granularity per-group`);
      return { dtype: resolved as 'float16' | 'uint8' | 'uint16', granularity: 'per-tensor' };
    }
    if (granularity === 'per-group' && raw.groupSize === undefined) refuse('granularity', 'sets granularity per-group without groupSize; add groupSize (values per scale along the reduction axis, e.g. 32)');
    if (granularity !== 'per-group' && raw.groupSize !== undefined) refuse('groupSize', `sets groupSize with granularity ${granularity}; groupSize needs granularity: per-group`);
    const symmetric = (raw.symmetric as boolean | undefined) ?? true;
    return {
      dtype: resolved as PackedDtype,
      granularity: granularity as 'per-tensor' | 'per-channel' | 'per-group',
      ...(granularity === 'per-group' ? { groupSize: raw.groupSize as number } : {}),
      symmetric,
      clip: (raw.clip as 'none' | 'mse' | undefined) ?? 'none',
    };
  },

  async apply(model, options) {
    let quantized = 0;
    let skipped = 0;
    let maxAbsError = 0;
    let sumSqError = 0;
    let values = 0;
    const classes = layerClasses(model.json);
    const out = encodeWeights(model.json, decodeWeights(model), (w) => {
      if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) {
        skipped++;
        return undefined;
      }
      let enc: Encoded;
      if (options.dtype === 'float16') enc = toFloat16(w.values);
      else if (options.dtype === 'uint8' || options.dtype === 'uint16') enc = toAffine(w.values, options.dtype);
      else {
        const axis = kernelAxis(w, classes);
        if (axis === undefined) {
          skipped++;
          return undefined;
        }
        const p = packWeight(w.spec.name, w.spec.shape, w.values, { ...(options as Extract<QuantizeOptions, { symmetric: boolean }>), axis });
        enc = { bytes: p.bytes, quantization: p.quantization, decoded: p.decoded };
      }
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
        ...(options.granularity === 'per-tensor' ? {} : { granularity: options.granularity }),
        weightsQuantized: quantized,
        weightsSkipped: skipped,
        weightBytesBefore: model.weightData.byteLength,
        weightBytesAfter: out.weightData.byteLength,
        maxAbsError,
        rmsError: values ? Math.sqrt(sumSqError / values) : 0,
      },
    };
  },
};

/** First output-channel axis when `w` is a float32 Dense/Conv2D/DepthwiseConv2D kernel, else undefined. */
function kernelAxis(w: DecodedWeight, classes: Map<string, string> | undefined): number | undefined {
  const parts = w.spec.name.split('/');
  const own = parts.at(-1);
  const layer = parts.at(-2);
  if (layer === undefined || w.spec.shape.length < 2) return undefined;
  // Without a topology (graph models) go by the Keras weight names alone.
  const kernel = classes ? KERNELS[classes.get(layer) ?? ''] : own === 'depthwise_kernel' ? KERNELS.DepthwiseConv2D : KERNELS.Dense;
  if (!kernel || kernel.weight !== own) return undefined;
  return kernel.axis < 0 ? w.spec.shape.length + kernel.axis : kernel.axis;
}

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
