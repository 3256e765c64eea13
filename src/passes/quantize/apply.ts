/**
 * quantize's implementation: every float32 weight written in the format its layer's options ask for. Loaded by
 * the definition's apply() (./index.ts) on first use, so planning never loads it.
 */
import {
  alignedView,
  compressedWeight,
  compressedWeightByKey,
  decodeWeights,
  encodeWeights,
  float16Table,
  float32BitsToFloat16,
  layerClasses,
  layerOfWeight,
  packedChannelAxis,
  readGraph,
  weightByteLength,
  type DecodedWeight,
  type EncodedWeight,
  type GraphView,
  type QuantizationDtype,
  type StoredModel,
  type WeightSpec,
} from '../../model/index.js';
import { packedSize, packWeight, roundHalfUp } from '../../engine/packed.js';
import { checksum } from '../../runtime/decode.js';
import { optionsByLayer, type PassContext, type PassResult } from '../define.js';
import type { QuantizeOptions } from './options.js';

export function applyQuantize(model: StoredModel, options: QuantizeOptions, ctx: PassContext): PassResult {
  const optionsFor = optionsByLayer(ctx, options);
  let quantized = 0;
  let skipped = 0;
  let values = 0;
  const byDtype: Partial<Record<QuantizationDtype, number>> = {};
  // Per layer, in manifest order: values quantized and their stored bytes (a layer has one dtype: its options').
  const perLayer = new Map<string, { dtype: QuantizationDtype; values: number; bytes: number }>();
  const skippedLayers = new Set<string>();
  // |w − ŵ| over every quantized value, accumulated in weight and element order by the writers.
  const errors = { maxAbs: 0, sumSq: 0 };
  const classes = layerClasses(model.json);
  // A graph model's kernels are found by the ops that read them, its layers are those nodes.
  const graph = readGraph(model.json);
  const layerOf = graph ? graph.layerOf : (name: string) => layerOfWeight(name, classes);
  const decoded = decodeWeights(model, { share: true });
  const stored = storedWeights(model, decoded);
  const out = encodeWeights(model.json, decoded, (w): EncodedWeight | undefined => {
    if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) {
      skipped++;
      return undefined;
    }
    const layer = layerOf(w.spec.name);
    const o = optionsFor(layer);
    if (o === null) {
      // An override says skip: the layer's weights keep their stored bytes, an earlier quantization included.
      skipped++;
      skippedLayers.add(layer);
      return stored.get(w);
    }
    const encoded = quantizeWeight(w, w.values, o, graph ?? classes, errors);
    if (!encoded) {
      skipped++;
      return undefined;
    }
    quantized++;
    values += w.values.length;
    byDtype[o.dtype] = (byDtype[o.dtype] ?? 0) + 1;
    const l = perLayer.get(layer) ?? { dtype: o.dtype, values: 0, bytes: 0 };
    l.values += w.values.length;
    l.bytes += 'bytes' in encoded ? encoded.bytes.byteLength : encoded.byteLength;
    perLayer.set(layer, l);
    return encoded;
  });
  return {
    model: out,
    stats: {
      dtype: options.dtype,
      ...(options.granularity === 'per-tensor' ? {} : { granularity: options.granularity }),
      weightsQuantized: quantized,
      weightsSkipped: skipped,
      weightsByDtype: byDtype,
      layers: [...perLayer].map(([layer, l]) => ({
        layer,
        dtype: l.dtype,
        values: l.values,
        bitsPerWeight: Number(((8 * l.bytes) / Math.max(1, l.values)).toFixed(3)),
      })),
      ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
      weightBytesBefore: model.weightData.byteLength,
      weightBytesAfter: out.weightData.byteLength,
      maxAbsError: errors.maxAbs,
      rmsError: values ? Math.sqrt(errors.sumSq / values) : 0,
    },
  };
}

/** One float32 weight stored with options `o`, or undefined when `o`'s format leaves it float32 (not a kernel, for the packed formats). */
function quantizeWeight(
  w: DecodedWeight,
  v: Float32Array,
  o: QuantizeOptions,
  classes: Map<string, string> | GraphView | undefined,
  errors: ErrorSink,
): EncodedWeight | undefined {
  let byteLength: number;
  let write: (into: Uint8Array) => WeightSpec['quantization'] & object;
  if (o.dtype === 'float16') {
    byteLength = 2 * v.length;
    write = (into) => toFloat16(v, into, errors);
  } else if (o.dtype === 'bfloat16') {
    byteLength = 2 * v.length;
    write = (into) => toBfloat16(v, into, errors);
  } else if (o.dtype === 'uint8' || o.dtype === 'uint16') {
    const dtype = o.dtype;
    byteLength = (dtype === 'uint8' ? 1 : 2) * v.length;
    write = (into) => toAffine(v, dtype, into, errors);
  } else {
    const axis = kernelAxis(w, classes);
    if (axis === undefined) return undefined;
    const packed = { ...(o as Extract<QuantizeOptions, { symmetric: boolean }>), axis };
    byteLength = packedSize(w.spec.name, w.spec.shape, packed);
    write = (into) => packWeight(w.spec.name, w.spec.shape, v, packed, { into, errors }).quantization;
  }
  return { byteLength, write: (into) => ({ ...w.spec, quantization: write(into) }) };
}

/** Each decoded weight's spec and bytes as stored in `model` (views), to write a weight back unchanged. */
function storedWeights(
  model: StoredModel,
  decoded: readonly DecodedWeight[],
): Map<DecodedWeight, { spec: WeightSpec; bytes: Uint8Array }> {
  const out = new Map<DecodedWeight, { spec: WeightSpec; bytes: Uint8Array }>();
  let off = 0;
  model.weightSpecs.forEach((spec, i) => {
    const length = weightByteLength(spec);
    out.set(decoded[i]!, { spec, bytes: model.weightData.subarray(off, off + length) });
    off += length;
  });
  return out;
}

/**
 * First output-channel axis when `w` is a float32 Dense/Conv2D/DepthwiseConv2D kernel (in a graph model: read by
 * a Conv2D, depthwise or MatMul node, fused or not), else undefined.
 */
function kernelAxis(w: DecodedWeight, classes: Map<string, string> | GraphView | undefined): number | undefined {
  if (classes !== undefined && !(classes instanceof Map)) {
    const kernel = classes.compressed(w.spec.name, 'quantize');
    const rank = w.spec.shape.length;
    return kernel && rank >= 2 ? packedChannelAxis(kernel.role, rank) : undefined;
  }
  const parts = w.spec.name.split('/');
  const own = parts.at(-1);
  const layer = parts.at(-2);
  if (layer === undefined || w.spec.shape.length < 2) return undefined;
  // The kernels the catalogue lets quantize pack (Dense, Conv2D, DepthwiseConv2D); without a topology (graph
  // models) go by the Keras weight names alone.
  const kernel = classes
    ? compressedWeight(classes.get(layer) ?? '', 'quantize')
    : compressedWeightByKey(own ?? '', 'quantize');
  if (!kernel || kernel.key !== own) return undefined;
  return w.spec.shape.length + kernel.outputAxis;
}

type ErrorSink = { maxAbs: number; sumSq: number };

/** Writes v as float16 into `into` (2 bytes per value), adding |w − ŵ| of what TF.js decodes to `errors`. */
function toFloat16(v: Float32Array, into: Uint8Array, errors: ErrorSink): WeightSpec['quantization'] & object {
  const n = v.length;
  const bits = new Uint32Array(v.buffer, v.byteOffset, n);
  const { view: half, flush } = alignedView(into, Uint16Array, n);
  const table = float16Table();
  let maxAbs = errors.maxAbs;
  let sumSq = errors.sumSq;
  for (let i = 0; i < n; i++) {
    const h = float32BitsToFloat16(bits[i]!);
    half[i] = h;
    const e = Math.abs(v[i]! - table[h]!);
    if (e > maxAbs) maxAbs = e;
    sumSq += e * e;
  }
  flush();
  errors.maxAbs = maxAbs;
  errors.sumSq = sumSq;
  return { dtype: 'float16' };
}

/**
 * Writes v as bfloat16 (the upper 16 bits of each float32, round to nearest even; NaN stays NaN), little-endian,
 * adding |w − ŵ| to `errors`. Not a TF.js format: the manifest entry carries a checksum and mcbuild/runtime decodes it.
 */
function toBfloat16(v: Float32Array, into: Uint8Array, errors: ErrorSink): WeightSpec['quantization'] & object {
  const n = v.length;
  const bits = new Uint32Array(v.buffer, v.byteOffset, n);
  const back = new Float32Array(1);
  const backBits = new Uint32Array(back.buffer);
  let maxAbs = errors.maxAbs;
  let sumSq = errors.sumSq;
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const isNaN = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
    // Adding 0x7fff plus the kept part's lowest bit rounds half to even; a carry into the exponent is right.
    const h = isNaN ? (b >>> 16) | 0x40 : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    into[2 * i] = h & 0xff;
    into[2 * i + 1] = h >>> 8;
    backBits[0] = h << 16;
    const e = Math.abs(v[i]! - back[0]!);
    if (e > maxAbs) maxAbs = e;
    if (!Number.isNaN(e)) sumSq += e * e;
  }
  errors.maxAbs = maxAbs;
  errors.sumSq = sumSq;
  return {
    dtype: 'bfloat16',
    checksum: checksum(into.subarray(0, 2 * n)),
    original_dtype: 'float32',
  } as unknown as WeightSpec['quantization'] & object;
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

/** Writes v as affine uint8/uint16 into `into`, adding |w − ŵ| of what TF.js decodes to `errors`. */
function toAffine(
  v: Float32Array,
  dtype: 'uint8' | 'uint16',
  into: Uint8Array,
  errors: ErrorSink,
): WeightSpec['quantization'] & object {
  const qmax = dtype === 'uint8' ? 255 : 65535;
  const range = new Float64Array(2);
  minMax(v, range);
  const { scale, min } = affineRange(range[0]!, range[1]!, qmax);
  if (dtype === 'uint8') affineUint8(v, into, min, scale, errors);
  else {
    const { view, flush } = alignedView(into, Uint16Array, v.length);
    affineUint16(v, view, min, scale, errors);
    flush();
  }
  return { dtype, min, scale };
}

// The hot loops live in small functions of their own: V8 optimizes each as a whole (optimizing one loop of
// a large function on stack leaves the code after it without type feedback, and deoptimizes there).

/** [min, max] of v (NaN ignored), [0, 0] when empty. */
function minMax(v: Float32Array, out: Float64Array): void {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  out[0] = v.length === 0 ? 0 : lo;
  out[1] = v.length === 0 ? 0 : hi;
}

// Two copies on purpose, one per typed-array kind: a loop that writes both Uint8Array and Uint16Array is
// polymorphic and several times slower on 25M weights.
function affineUint8(v: Float32Array, q: Uint8Array, min: number, scale: number, errors: ErrorSink): void {
  let maxAbs = errors.maxAbs;
  let sumSq = errors.sumSq;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const k = Math.min(255, Math.max(0, roundHalfUp((x - min) / scale)));
    q[i] = k;
    // What TF.js decodes: the double k·scale + min stored as float32. (A NaN weight gives k NaN, stored as 0,
    // and a NaN error, as the error statistics always had.)
    const e = Math.abs(x - Math.fround(k * scale + min));
    if (e > maxAbs) maxAbs = e;
    sumSq += e * e;
  }
  errors.maxAbs = maxAbs;
  errors.sumSq = sumSq;
}

function affineUint16(v: Float32Array, q: Uint16Array, min: number, scale: number, errors: ErrorSink): void {
  let maxAbs = errors.maxAbs;
  let sumSq = errors.sumSq;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const k = Math.min(65535, Math.max(0, roundHalfUp((x - min) / scale)));
    q[i] = k;
    const e = Math.abs(x - Math.fround(k * scale + min));
    if (e > maxAbs) maxAbs = e;
    sumSq += e * e;
  }
  errors.maxAbs = maxAbs;
  errors.sumSq = sumSq;
}
