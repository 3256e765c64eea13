/**
 * The mcbuild packed weight format's shared pieces (docs/packed-format.md): the manifest types, the layout of
 * int8/int4/int2 weights with float32 scales per tensor, per output channel or per group, the checksum and the
 * error both decoders throw. ./decode.ts (packed ints, bfloat16, the dispatch) and ./encoded.ts (entropy-coded
 * weights) build on it. No TF.js, no Node APIs: it runs in browsers too.
 */
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

export class PackedFormatError extends Error {
  override name = 'PackedFormatError';
}

/** Number of elements of a tensor of this shape. */
export function elementCount(shape: readonly number[]): number {
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
  const n = elementCount(spec.shape);
  const bits = PACKED_BITS[q.dtype];
  let channels = 1;
  if (q.granularity === 'per-channel' || q.granularity === 'per-group') {
    const axis = q.axis;
    if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < 0 || axis >= spec.shape.length) {
      throw new PackedFormatError(
        `${where}: quantization.axis ${String(axis)} is not an axis of shape [${spec.shape.join(',')}]`,
      );
    }
    channels = elementCount(spec.shape.slice(axis));
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
