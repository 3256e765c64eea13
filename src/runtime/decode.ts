/**
 * The mcbuild packed weight format (docs/packed-format.md): int8/int4/int2 weights with float32 scales per
 * tensor, per output channel or per group. This module is the ONE decoder: the engine (src/model/weights.ts,
 * src/engine/runtime.ts) and the runtime loader (src/runtime/index.ts) both use it, so what mcbuild measures is
 * bit for bit what the loader hands TF.js. No TF.js, no Node APIs: it runs in browsers too. Entropy-coded
 * weights (the encode pass) are decoded by ./encoded.ts, dispatched from here (decodeStored).
 */
import { decodeEncoded, encodedLayout, isEncoded } from './encoded.js';

export type PackedDtype = 'int8' | 'int4' | 'int2';
export type PackedGranularity = 'per-tensor' | 'per-channel' | 'per-group';

/** The `quantization` member of a packed weight's manifest entry. */
export interface PackedQuantization {
  dtype: PackedDtype;
  granularity: PackedGranularity;
  /** First output-channel axis: the channel index runs over shape[axis..] (absent for per-tensor). */
  axis?: number;
  /** Consecutive values of the reduction index per scale (per-group only). */
  groupSize?: number;
  /** true: value = q·scale, q signed in ±(2^(b−1)−1); false: value = q·scale + offset, q in [0, 2^b−1]. */
  symmetric: boolean;
  /** Number of scales (= of offsets when asymmetric). */
  scaleCount: number;
  /** "crc32:" + 8 lowercase hex digits of the weight's bytes (scales, offsets, packed integers). */
  checksum: string;
  /** Always float32: the dtype the weight decodes to. */
  original_dtype?: string;
}

export interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
  [extra: string]: unknown;
}

export const PACKED_BITS: Readonly<Record<PackedDtype, number>> = { int8: 8, int4: 4, int2: 2 };

export function isPackedDtype(d: unknown): d is PackedDtype {
  return d === 'int8' || d === 'int4' || d === 'int2';
}

/** True for every weight only mcbuild's decoder reads: packed ints, bfloat16, codebooks, entropy-coded ones. */
export function isPacked(spec: ManifestEntry): boolean {
  return isPackedDtype(spec.quantization?.dtype) || isBfloat16(spec) || isEncoded(spec);
}

/**
 * bfloat16: the upper 16 bits of a float32 (same exponent range, 8 significant bits), 2 bytes per value,
 * little-endian; `quantization: { dtype: 'bfloat16', checksum, original_dtype: 'float32' }`. Decoding is exact:
 * the stored bits followed by 16 zero bits.
 */
export function isBfloat16(spec: ManifestEntry): boolean {
  return (
    spec.quantization?.dtype === 'bfloat16' && (spec.quantization as { encoding?: unknown }).encoding === undefined
  );
}

export function decodeBfloat16(spec: ManifestEntry, bytes: Uint8Array): Float32Array {
  const n = count(spec.shape);
  if (bytes.byteLength !== 2 * n)
    throw new PackedFormatError(`weight ${spec.name}: ${bytes.byteLength} bytes stored but bfloat16 needs ${2 * n}`);
  const sum = checksum(bytes);
  const expected = (spec.quantization as { checksum?: string }).checksum;
  if (expected !== sum)
    throw new PackedFormatError(
      `weight ${spec.name}: checksum mismatch (model.json says ${String(expected)}, the shard bytes give ${sum}); the weight shard is corrupted or belongs to another model`,
    );
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return out;
}

export class PackedFormatError extends Error {
  override name = 'PackedFormatError';
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** How a packed weight's values map to scales: element i → channel i % channels, reduction index ⌊i / channels⌋. */
export interface PackedLayout {
  n: number;
  bits: number;
  channels: number;
  reduction: number;
  groupSize: number;
  groupsPerChannel: number;
  scaleCount: number;
  /** Bytes of scales (and offsets when asymmetric), then of packed integers. */
  scaleBytes: number;
  intBytes: number;
  byteLength: number;
}

/**
 * The layout a spec implies; throws PackedFormatError when its members are inconsistent. With `derive`, the
 * spec's scaleCount is not checked (the encoder uses the returned one).
 */
export function packedLayout(spec: ManifestEntry, derive = false): PackedLayout {
  const q = spec.quantization as Partial<PackedQuantization> | undefined;
  const where = `weight ${spec.name}`;
  if (!q || !isPackedDtype(q.dtype)) throw new PackedFormatError(`${where} is not a packed weight`);
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new PackedFormatError(`${where} has an invalid shape`);
  const n = count(spec.shape);
  const bits = PACKED_BITS[q.dtype];
  let channels = 1;
  if (q.granularity === 'per-channel' || q.granularity === 'per-group') {
    const axis = q.axis;
    if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < 0 || axis >= spec.shape.length) {
      throw new PackedFormatError(
        `${where}: quantization.axis ${String(axis)} is not an axis of shape [${spec.shape.join(',')}]`,
      );
    }
    channels = count(spec.shape.slice(axis));
  } else if (q.granularity !== 'per-tensor') {
    throw new PackedFormatError(`${where}: unknown quantization.granularity ${String(q.granularity)}`);
  }
  const reduction = channels === 0 ? 0 : n / channels;
  let groupSize = Math.max(1, reduction);
  if (q.granularity === 'per-group') {
    if (typeof q.groupSize !== 'number' || !Number.isInteger(q.groupSize) || q.groupSize < 1)
      throw new PackedFormatError(`${where}: per-group quantization needs a positive integer groupSize`);
    groupSize = q.groupSize;
  }
  const groupsPerChannel = reduction === 0 ? 0 : Math.ceil(reduction / groupSize);
  const scaleCount = channels * groupsPerChannel;
  if (!derive && q.scaleCount !== scaleCount)
    throw new PackedFormatError(
      `${where}: quantization.scaleCount is ${String(q.scaleCount)} but its shape and granularity need ${scaleCount}`,
    );
  if (typeof q.symmetric !== 'boolean')
    throw new PackedFormatError(`${where}: quantization.symmetric must be true or false`);
  const scaleBytes = 4 * scaleCount * (q.symmetric ? 1 : 2);
  const intBytes = Math.ceil((n * bits) / 8);
  return {
    n,
    bits,
    channels,
    reduction,
    groupSize,
    groupsPerChannel,
    scaleCount,
    scaleBytes,
    intBytes,
    byteLength: scaleBytes + intBytes,
  };
}

/** Index of the scale of element i. */
export function scaleIndex(l: PackedLayout, i: number): number {
  const c = i % l.channels;
  const r = (i - c) / l.channels;
  return c * l.groupsPerChannel + Math.floor(r / l.groupSize);
}

/** The stored integer of element i, b bits at bit offset i·b, least significant bits first. Signed when symmetric. */
export function readInt(ints: Uint8Array, i: number, bits: number, signed: boolean): number {
  const bit = i * bits;
  const raw = (ints[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
  return signed && raw >= 1 << (bits - 1) ? raw - (1 << bits) : raw;
}

/** Decodes one packed weight's bytes (exactly layout.byteLength of them) to float32, after checking its checksum. */
export function decodePacked(spec: ManifestEntry, bytes: Uint8Array): Float32Array {
  const l = packedLayout(spec);
  const q = spec.quantization as unknown as PackedQuantization;
  if (bytes.byteLength !== l.byteLength)
    throw new PackedFormatError(
      `weight ${spec.name}: ${bytes.byteLength} bytes stored but its packed format needs ${l.byteLength}`,
    );
  const sum = checksum(bytes);
  if (q.checksum !== sum)
    throw new PackedFormatError(
      `weight ${spec.name}: checksum mismatch (model.json says ${String(q.checksum)}, the shard bytes give ${sum}); the weight shard is corrupted or belongs to another model`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scales = new Float32Array(l.scaleCount);
  const offsets = new Float32Array(q.symmetric ? 0 : l.scaleCount);
  for (let s = 0; s < l.scaleCount; s++) scales[s] = view.getFloat32(4 * s, true);
  for (let s = 0; s < offsets.length; s++) offsets[s] = view.getFloat32(4 * (l.scaleCount + s), true);
  const ints = bytes.subarray(l.scaleBytes);
  const out = new Float32Array(l.n);
  // Element i = r·C + c uses scale s = c·P + ⌊r / G⌋ (scaleIndex): walking groups of G rows, then rows, then
  // channels visits the elements in order, with the current group's scale of each channel gathered into a
  // contiguous array; integers are read as readInt does, sign-extended by (raw ^ half) − half.
  const { channels: C, reduction: R, groupSize: G, groupsPerChannel: P, bits } = l;
  const symmetric = q.symmetric;
  const mask = (1 << bits) - 1;
  const half = symmetric ? 1 << (bits - 1) : 0;
  const gScale = new Float64Array(C);
  const gOffset = new Float64Array(C);
  for (let g = 0; g < P; g++) {
    for (let c = 0; c < C; c++) {
      gScale[c] = scales[c * P + g]!;
      gOffset[c] = symmetric ? 0 : offsets[c * P + g]!;
    }
    const r0 = g * G;
    const r1 = Math.min(R, r0 + G);
    if (C === 1) {
      const sc = gScale[0]!;
      const of = gOffset[0]!;
      for (let i = r0; i < r1; i++) {
        const bit = i * bits;
        const k = (((ints[bit >> 3]! >> (bit & 7)) & mask) ^ half) - half;
        // float32 storage rounds the double product once: the same result on every JS engine.
        out[i] = symmetric ? k * sc : k * sc + of;
      }
      continue;
    }
    for (let r = r0; r < r1; r++) {
      for (let c = 0, i = r * C; c < C; c++, i++) {
        const bit = i * bits;
        const k = (((ints[bit >> 3]! >> (bit & 7)) & mask) ^ half) - half;
        out[i] = symmetric ? k * gScale[c]! : k * gScale[c]! + gOffset[c]!;
      }
    }
  }
  return out;
}

/** Bytes a packed weight occupies, or undefined when the spec is not packed. */
export function packedByteLength(spec: ManifestEntry): number | undefined {
  if (isEncoded(spec)) return encodedLayout(spec).byteLength;
  if (isBfloat16(spec)) return 2 * count(spec.shape);
  return isPacked(spec) ? packedLayout(spec).byteLength : undefined;
}

/** Decodes any weight isPacked() accepts (entropy-coded or plain packed) to float32. */
export function decodeStored(spec: ManifestEntry, bytes: Uint8Array): Float32Array {
  if (isEncoded(spec)) return decodeEncoded(spec, bytes);
  return isBfloat16(spec) ? decodeBfloat16(spec, bytes) : decodePacked(spec, bytes);
}

const NATIVE_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** Bytes any weight occupies in the shards (packed or TF.js-native). */
export function storedByteLength(spec: ManifestEntry): number {
  const packed = packedByteLength(spec);
  if (packed !== undefined) return packed;
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = NATIVE_BYTES[dtype];
  if (bytes === undefined) throw new PackedFormatError(`weight ${spec.name} has unsupported dtype ${dtype}`);
  return count(spec.shape) * bytes;
}

/**
 * Replaces every packed weight by its float32 decoding; other weights (float32, int32, TF.js's own
 * uint8/uint16/float16) pass through byte for byte. `data` is all weight bytes in manifest order.
 */
export function unpackWeights(
  specs: readonly ManifestEntry[],
  data: Uint8Array,
): { weightSpecs: ManifestEntry[]; weightData: Uint8Array } {
  const lengths = specs.map(storedByteLength);
  const expected = lengths.reduce((a, b) => a + b, 0);
  if (data.byteLength !== expected)
    throw new PackedFormatError(
      `the weight shards hold ${data.byteLength} bytes but the weights need ${expected}; a shard is truncated or from another model`,
    );
  const outSpecs: ManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const [i, spec] of specs.entries()) {
    const bytes = data.subarray(off, off + lengths[i]!);
    off += lengths[i]!;
    if (isPacked(spec)) {
      const values = decodeStored(spec, bytes);
      const { quantization: _q, ...rest } = spec;
      outSpecs.push({ ...rest, dtype: 'float32' });
      chunks.push(new Uint8Array(values.buffer));
    } else {
      outSpecs.push(spec);
      chunks.push(bytes);
    }
  }
  const weightData = concatBytes(chunks);
  return { weightSpecs: outSpecs, weightData };
}

/** The chunks one after another in a new array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib and PNG), as an unsigned number. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The `quantization.checksum` string of a packed weight's bytes. */
export function checksum(bytes: Uint8Array): string {
  return `crc32:${crc32(bytes).toString(16).padStart(8, '0')}`;
}
