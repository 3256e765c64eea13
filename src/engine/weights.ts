/**
 * Weight values as plain typed arrays, decoded from and encoded to the stored TF.js format exactly as TF.js
 * does it (the same float32 arithmetic for affine dequantization, the same float16 bit layout). Passes that
 * rewrite weights use these instead of a TF.js round trip, so they need no engine.
 */
import { decodeStored, isPacked } from '../runtime/decode.js';
import { concatBytes, elementCount, weightByteLength, type StoredModel, type WeightSpec } from './model-format.js';

export interface DecodedWeight {
  spec: WeightSpec;
  /** float32 values for float weights (dequantized), int32 for int32, 0/1 for bool. */
  values: Float32Array | Int32Array | Uint8Array;
}

export function decodeWeights(model: StoredModel): DecodedWeight[] {
  const out: DecodedWeight[] = [];
  let off = 0;
  for (const spec of model.weightSpecs) {
    const len = weightByteLength(spec);
    const bytes = model.weightData.slice(off, off + len); // a copy: aligned and independent of the source
    off += len;
    const n = elementCount(spec.shape);
    const q = spec.quantization;
    if (q && isPacked(spec)) {
      // The runtime loader's own decoder (checks the checksum too).
      out.push({ spec: stripQuantization(spec), values: decodeStored(spec, bytes) });
    } else if (q) {
      const values = new Float32Array(n);
      if (q.dtype === 'float16') {
        const half = new Uint16Array(bytes.buffer, 0, n);
        for (let i = 0; i < n; i++) values[i] = float16ToFloat32(half[i]!);
      } else {
        const ints = q.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer, 0, n);
        const scale = 'scale' in q ? (q.scale ?? 1) : 1;
        const min = 'min' in q ? (q.min ?? 0) : 0;
        for (let i = 0; i < n; i++) values[i] = ints[i]! * scale + min;
      }
      out.push({ spec: stripQuantization(spec), values });
    } else if (spec.dtype === 'float32') {
      out.push({ spec, values: new Float32Array(bytes.buffer, 0, n) });
    } else if (spec.dtype === 'int32') {
      out.push({ spec, values: new Int32Array(bytes.buffer, 0, n) });
    } else {
      out.push({ spec, values: bytes });
    }
  }
  return out;
}

/** Writes decoded weights back; `encode` may return quantized bytes and spec for a weight, or undefined to keep float. */
export function encodeWeights(
  json: StoredModel['json'],
  weights: readonly DecodedWeight[],
  encode: (w: DecodedWeight) => { spec: WeightSpec; bytes: Uint8Array } | undefined = () => undefined,
): StoredModel {
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const w of weights) {
    const encoded = encode(w);
    if (encoded) {
      specs.push(encoded.spec);
      chunks.push(encoded.bytes);
    } else {
      specs.push(w.spec);
      chunks.push(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength));
    }
  }
  return { json, weightSpecs: specs, weightData: concatBytes(chunks) };
}

function stripQuantization(spec: WeightSpec): WeightSpec {
  const { quantization, ...rest } = spec;
  return { ...rest, dtype: quantization?.original_dtype ?? 'float32' };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 from binary32, round to nearest even; overflow → ±Infinity, as hardware converters do. */
export function float32ToFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // make the implicit bit explicit, then shift into a subnormal
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
