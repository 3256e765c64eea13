/**
 * The decoder of the mcbuild packed weight format (docs/packed-format.md; its layout, types and checksum are in
 * ./format.ts): int8/int4/int2 weights with float32 scales per tensor, per output channel or per group, and
 * bfloat16. This module is the ONE decoder: the engine (src/model/weights.ts,
 * src/engine/runtime.ts) and the runtime loader (src/runtime/index.ts) both use it, so what mcbuild measures is
 * bit for bit what the loader hands TF.js. No TF.js, no Node APIs: it runs in browsers too. Entropy-coded
 * weights (the encode pass) are decoded by ./encoded.ts, dispatched from here (decodeStored).
 */
import { decodeEncoded, encodedLayout, isEncoded } from './encoded.js';
import {
  checksum,
  elementCount,
  isPackedDtype,
  packedLayout,
  PackedFormatError,
  type ManifestEntry,
  type PackedQuantization,
} from './format.js';

// The format's shared pieces, re-exported: importers of the decoder find the whole format here.
export {
  checksum,
  crc32,
  isPackedDtype,
  PACKED_BITS,
  packedLayout,
  PackedFormatError,
  readInt,
  scaleIndex,
  type ManifestEntry,
  type PackedDtype,
  type PackedGranularity,
  type PackedLayout,
  type PackedQuantization,
} from './format.js';

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
  const n = elementCount(spec.shape);
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
  if (isBfloat16(spec)) return 2 * elementCount(spec.shape);
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
  return elementCount(spec.shape) * bytes;
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
