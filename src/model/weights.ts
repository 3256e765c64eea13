/**
 * Weight values as plain typed arrays, decoded from and encoded to the stored TF.js format exactly as TF.js
 * does it (the same float32 arithmetic for affine dequantization, the same float16 bit layout). Passes that
 * rewrite weights use these instead of a TF.js round trip, so they need no engine.
 */
import { decodeStored, isPacked } from '../runtime/decode.js';
import { elementCount, weightByteLength, type StoredModel, type WeightSpec } from './format.js';

export interface DecodedWeight {
  spec: WeightSpec;
  /** float32 values for float weights (dequantized), int32 for int32, 0/1 for bool. */
  values: Float32Array | Int32Array | Uint8Array;
}

export interface DecodeOptions {
  /**
   * true: the values of weights stored as they decode (float32, int32, bool) are views of `model.weightData`
   * when aligned, not copies; the caller must only read them. Default false: every array is a fresh copy.
   */
  share?: boolean;
}

export function decodeWeights(model: StoredModel, options: DecodeOptions = {}): DecodedWeight[] {
  return storedWeights(model).map(({ spec, stored }) => decodeWeight(spec, stored, options));
}

/** Each weight's manifest entry and its stored bytes (a view of the model's weight data), in manifest order. */
export function storedWeights(model: StoredModel): { spec: WeightSpec; stored: Uint8Array }[] {
  let off = 0;
  return model.weightSpecs.map((spec) => {
    const stored = model.weightData.subarray(off, off + weightByteLength(spec));
    off += stored.byteLength;
    return { spec, stored };
  });
}

/** One weight's values from its stored bytes (a view of the model's weight data), as decodeWeights decodes them. */
export function decodeWeight(spec: WeightSpec, bytes: Uint8Array, options: DecodeOptions = {}): DecodedWeight {
  const share = options.share === true;
  const at = bytes.byteOffset;
  const n = elementCount(spec.shape);
  const q = spec.quantization;
  if (q && isPacked(spec)) {
    // The runtime loader's own decoder (checks the checksum too).
    return { spec: stripQuantization(spec), values: decodeStored(spec, bytes) };
  }
  if (q) {
    // Quantized bytes are only read (copied when a 16-bit view of them would be unaligned).
    const values = new Float32Array(n);
    if (q.dtype === 'float16') {
      const half = at % 2 === 0 ? new Uint16Array(bytes.buffer, at, n) : new Uint16Array(bytes.slice().buffer, 0, n);
      const table = float16Table();
      for (let i = 0; i < n; i++) values[i] = table[half[i]!]!;
    } else {
      const scale = 'scale' in q ? (q.scale ?? 1) : 1;
      const min = 'min' in q ? (q.min ?? 0) : 0;
      if (q.dtype === 'uint8') {
        for (let i = 0; i < n; i++) values[i] = bytes[i]! * scale + min;
      } else {
        const ints = at % 2 === 0 ? new Uint16Array(bytes.buffer, at, n) : new Uint16Array(bytes.slice().buffer, 0, n);
        for (let i = 0; i < n; i++) values[i] = ints[i]! * scale + min;
      }
    }
    return { spec: stripQuantization(spec), values };
  }
  if (spec.dtype === 'float32')
    return {
      spec,
      values:
        share && at % 4 === 0 ? new Float32Array(bytes.buffer, at, n) : new Float32Array(bytes.slice().buffer, 0, n),
    };
  if (spec.dtype === 'int32')
    return {
      spec,
      values: share && at % 4 === 0 ? new Int32Array(bytes.buffer, at, n) : new Int32Array(bytes.slice().buffer, 0, n),
    };
  return { spec, values: share ? bytes : bytes.slice() };
}

/**
 * What an encoder makes of one weight: its new spec and bytes, or (to write straight into the output, with
 * no intermediate copy) the byte length it will occupy and a writer that fills every one of that many bytes
 * of `into` (at any byte offset; zeroed unless `prepare` used the buffer) and returns the spec. Writers run
 * in weight order, after every weight has been offered to the encoder.
 */
export type EncodedWeight =
  { spec: WeightSpec; bytes: Uint8Array } | { byteLength: number; write(into: Uint8Array): WeightSpec };

/**
 * Writes decoded weights back; `encode` may return quantized bytes and spec for a weight, or undefined to keep
 * float. `prepare` gets the (zeroed) output buffer before anything is written to it: it may use it as scratch
 * memory, since every byte is written afterwards. (Fresh memory is expensive: the first touch of each page
 * costs a page fault, which on some virtual machines costs more than the work done on the page.)
 */
export function encodeWeights(
  json: StoredModel['json'],
  weights: readonly DecodedWeight[],
  encode: (w: DecodedWeight) => EncodedWeight | undefined = () => undefined,
  prepare?: (weightData: Uint8Array) => void,
): StoredModel {
  const encoded = weights.map((w) => encode(w));
  let total = 0;
  for (const [i, e] of encoded.entries())
    total += e === undefined ? weights[i]!.values.byteLength : 'bytes' in e ? e.bytes.byteLength : e.byteLength;
  // One output buffer, each weight written at its place.
  const weightData = new Uint8Array(total);
  prepare?.(weightData);
  const specs: WeightSpec[] = [];
  let off = 0;
  for (const [i, e] of encoded.entries()) {
    const w = weights[i]!;
    if (e === undefined) {
      specs.push(w.spec);
      weightData.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), off);
      off += w.values.byteLength;
    } else if ('bytes' in e) {
      specs.push(e.spec);
      weightData.set(e.bytes, off);
      off += e.bytes.byteLength;
    } else {
      specs.push(e.write(weightData.subarray(off, off + e.byteLength)));
      off += e.byteLength;
    }
  }
  return { json, weightSpecs: specs, weightData };
}

/**
 * A typed array of `length` elements over `into`'s bytes when they are aligned for it, else over a scratch
 * buffer; `flush()` copies a scratch buffer into `into` (a no-op for a view).
 */
export function alignedView<T extends Float32Array | Uint16Array | Int32Array>(
  into: Uint8Array,
  Ctor: {
    new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
    new (length: number): T;
    BYTES_PER_ELEMENT: number;
  },
  length: number,
): { view: T; flush: () => void } {
  if (into.byteOffset % Ctor.BYTES_PER_ELEMENT === 0)
    return { view: new Ctor(into.buffer, into.byteOffset, length), flush: () => {} };
  const view = new Ctor(length);
  return { view, flush: () => into.set(new Uint8Array(view.buffer, 0, length * Ctor.BYTES_PER_ELEMENT)) };
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
  return float32BitsToFloat16(u32[0]!);
}

/** float32ToFloat16 of the float32 with bit pattern `x` (NaN keeps its sign). */
export function float32BitsToFloat16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
  const e = exp - 127 + 15;
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
  const m = mant >>> 13;
  // Round to nearest even without a branch (half the values round up, at random): 1 when the dropped bits
  // exceed half, or equal it with m odd. A mantissa carry moves into the exponent, up to 0x7c00 (Infinity).
  const up = ((mant & 0x1fff) + 0xfff + (m & 1)) >> 13;
  return sign | ((e << 10) + m + up);
}

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | undefined;

/** float16ToFloat32 of every binary16 bit pattern, as float32 (each is exact in float32). */
export function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16ToFloat32(h);
  }
  return f16Table;
}
