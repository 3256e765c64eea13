/**
 * Entropy-coded weights (the `encode` pass; docs/packed-format.md, "Entropy-coded weights"): the last stage of
 * Deep Compression. A weight is a stream of small symbols — the integers of a packed int8/int4/int2 weight, or
 * indices into a codebook of at most 256 float32 values (a clustered or per-tensor quantized weight) — stored
 * as raw DEFLATE, densely or, for sparse weights, as (gap, symbol) pairs of the non-zero entries only, like
 * Deep Compression's relative-index CSR. Decoding uses fflate's inflate (small, pure JS, browsers and Node),
 * the runtime's one dependency; any valid DEFLATE stream decodes, whatever compressor wrote it.
 */
import { inflateSync } from 'fflate';
import {
  PackedFormatError,
  checksum,
  elementCount,
  packedLayout,
  scaleIndex,
  type ManifestEntry,
  type PackedLayout,
  type PackedQuantization,
} from './format.js';

/** The `quantization.encoding` member of an entropy-coded weight. */
export interface EntropyEncoding {
  method: 'deflate';
  /** dense: one symbol per element; sparse: (gap, symbol) pairs, zeros between them implied. */
  layout: 'dense' | 'sparse';
  /** Symbols stored: the element count (dense), or the pairs including gap fillers (sparse). */
  entries: number;
  /** Compressed bytes of the gap stream (sparse only). */
  gapBytes?: number;
  /** Compressed bytes of the symbol stream. */
  symbolBytes: number;
}

/** `quantization` of a codebook weight: value = codebook[symbol]; only exists entropy-coded. */
export interface CodebookQuantization {
  dtype: 'codebook';
  codebookSize: number;
  encoding: EntropyEncoding;
  checksum: string;
  original_dtype?: string;
}

/** Longest run of zeros one gap byte can skip; longer runs insert a stored zero (a filler) every 256. */
export const MAX_GAP = 255;

export interface EncodedLayout {
  n: number;
  /** Bytes before the compressed streams: float32 scales (and offsets) of an int weight, or the codebook. */
  headerBytes: number;
  gapBytes: number;
  symbolBytes: number;
  byteLength: number;
  encoding: EntropyEncoding;
  /** int8/int4/int2 weights only. */
  packed?: PackedLayout;
  codebookSize?: number;
}

export function isEncoded(spec: ManifestEntry): boolean {
  const q = spec.quantization as { dtype?: string; encoding?: unknown } | undefined;
  return q !== undefined && (q.dtype === 'codebook' || q.encoding !== undefined);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The layout an entropy-coded spec declares; throws PackedFormatError when its members are inconsistent. */
export function encodedLayout(spec: ManifestEntry): EncodedLayout {
  const where = `weight ${spec.name}`;
  const q = spec.quantization as (Partial<PackedQuantization> & Partial<CodebookQuantization>) | undefined;
  const e = q?.encoding as Partial<EntropyEncoding> | undefined;
  if (!q || !e || typeof e !== 'object') throw new PackedFormatError(`${where}: quantization.encoding is missing`);
  if (e.method !== 'deflate')
    throw new PackedFormatError(`${where}: unknown quantization.encoding.method ${String(e.method)}`);
  if (e.layout !== 'dense' && e.layout !== 'sparse')
    throw new PackedFormatError(`${where}: quantization.encoding.layout must be dense or sparse`);
  if (!isCount(e.entries) || !isCount(e.symbolBytes) || (e.layout === 'sparse' && !isCount(e.gapBytes))) {
    throw new PackedFormatError(
      `${where}: quantization.encoding needs non-negative integer entries, symbolBytes${e.layout === 'sparse' ? ' and gapBytes' : ''}`,
    );
  }
  if (!Array.isArray(spec.shape) || !spec.shape.every(isCount))
    throw new PackedFormatError(`${where} has an invalid shape`);
  const n = elementCount(spec.shape);
  if (e.layout === 'dense' && e.entries !== n)
    throw new PackedFormatError(`${where}: a dense encoding stores ${n} entries, not ${e.entries}`);
  let headerBytes: number;
  let packed: PackedLayout | undefined;
  let codebookSize: number | undefined;
  if (q.dtype === 'codebook') {
    if (!isCount(q.codebookSize) || q.codebookSize < 1 || q.codebookSize > 256)
      throw new PackedFormatError(`${where}: quantization.codebookSize must be an integer in [1, 256]`);
    codebookSize = q.codebookSize;
    headerBytes = 4 * codebookSize;
  } else {
    packed = packedLayout(spec);
    headerBytes = packed.scaleBytes;
  }
  const gapBytes = e.layout === 'sparse' ? e.gapBytes! : 0;
  return {
    n,
    headerBytes,
    gapBytes,
    symbolBytes: e.symbolBytes,
    byteLength: headerBytes + gapBytes + e.symbolBytes,
    encoding: e as EntropyEncoding,
    ...(packed ? { packed } : {}),
    ...(codebookSize !== undefined ? { codebookSize } : {}),
  };
}

function inflateExactly(where: string, stream: string, data: Uint8Array, expected: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = inflateSync(data);
  } catch (err) {
    throw new PackedFormatError(
      `${where}: its ${stream} stream is not valid DEFLATE data (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (out.byteLength !== expected)
    throw new PackedFormatError(
      `${where}: its ${stream} stream holds ${out.byteLength} symbols, the manifest says ${expected}`,
    );
  return out;
}

/** Decodes one entropy-coded weight's bytes (exactly its byteLength) to float32, after checking its checksum. */
export function decodeEncoded(spec: ManifestEntry, bytes: Uint8Array): Float32Array {
  const l = encodedLayout(spec);
  const where = `weight ${spec.name}`;
  const q = spec.quantization as unknown as { checksum?: string; symmetric?: boolean };
  if (bytes.byteLength !== l.byteLength)
    throw new PackedFormatError(`${where}: ${bytes.byteLength} bytes stored but its encoding needs ${l.byteLength}`);
  const sum = checksum(bytes);
  if (q.checksum !== sum)
    throw new PackedFormatError(
      `${where}: checksum mismatch (model.json says ${String(q.checksum)}, the shard bytes give ${sum}); the weight shard is corrupted or belongs to another model`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, l.headerBytes);
  const sparse = l.encoding.layout === 'sparse';
  const gaps = sparse
    ? inflateExactly(where, 'gap', bytes.subarray(l.headerBytes, l.headerBytes + l.gapBytes), l.encoding.entries)
    : undefined;
  const symbols = inflateExactly(where, 'symbol', bytes.subarray(l.headerBytes + l.gapBytes), l.encoding.entries);

  // symbol → value at element i: a codebook look-up, or the packed int format's q·scale (+ offset).
  let table: Float32Array | undefined;
  let valueAt: ((symbol: number, i: number) => number) | undefined;
  let limit: number;
  if (l.codebookSize !== undefined) {
    table = new Float32Array(l.codebookSize);
    for (let k = 0; k < table.length; k++) table[k] = view.getFloat32(4 * k, true);
    limit = table.length;
  } else {
    const p = l.packed!;
    const scales = new Float32Array(p.scaleCount);
    const offsets = new Float32Array(q.symmetric ? 0 : p.scaleCount);
    for (let s = 0; s < p.scaleCount; s++) scales[s] = view.getFloat32(4 * s, true);
    for (let s = 0; s < offsets.length; s++) offsets[s] = view.getFloat32(4 * (p.scaleCount + s), true);
    limit = 1 << p.bits;
    const half = 1 << (p.bits - 1);
    const full = limit;
    // As decodePacked: the double product rounded once into float32.
    valueAt = q.symmetric
      ? (k, i) => (k >= half ? k - full : k) * scales[scaleIndex(p, i)]!
      : (k, i) => {
          const s = scaleIndex(p, i);
          return k * scales[s]! + offsets[s]!;
        };
  }
  for (let j = 0; j < symbols.length; j++) {
    if (symbols[j]! >= limit)
      throw new PackedFormatError(
        `${where}: symbol ${symbols[j]} is outside its ${table ? `codebook of ${limit} values` : `${Math.log2(limit)}-bit integers`}`,
      );
  }

  const out = new Float32Array(l.n);
  if (!gaps) {
    if (table) for (let i = 0; i < l.n; i++) out[i] = table[symbols[i]!]!;
    else for (let i = 0; i < l.n; i++) out[i] = valueAt!(symbols[i]!, i);
    return out;
  }
  let pos = 0;
  for (let j = 0; j < symbols.length; j++) {
    pos += gaps[j]!;
    if (pos >= l.n) throw new PackedFormatError(`${where}: its sparse positions run past its ${l.n} elements`);
    out[pos] = table ? table[symbols[j]!]! : valueAt!(symbols[j]!, pos);
    pos++;
  }
  return out;
}
