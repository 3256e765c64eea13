/**
 * Encoder of entropy-coded weights (src/runtime/encoded.ts is the decoder, shared with the runtime loader).
 * Lossless: the encoded weight decodes to exactly the float32 values the input weight decodes to (−0 as +0).
 *
 * Streams are compressed with zlib (Node's), decoded with fflate's inflate (any DEFLATE stream). zlib matters
 * for its strategies: on independent symbols, LZ77 matches cost more than they save (a skewed 16-symbol
 * stream came out 30% above its entropy with the default strategy), while Huffman-only coding lands within a
 * few block headers of it. Each stream is compressed with every strategy in STRATEGIES and the smallest kept.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { checksum, isPackedDtype, packedLayout, readInt, type PackedQuantization } from '../runtime/decode.js';
import { MAX_GAP, decodeEncoded, isEncoded, type EntropyEncoding } from '../runtime/encoded.js';
import type { WeightSpec } from './model-format.js';

/** Huffman only (independent symbols), run-length (long zero or filler runs), full LZ77 (repeated patterns). */
const STRATEGIES = [constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_DEFAULT_STRATEGY] as const;

/** The smallest raw DEFLATE stream of `data` among STRATEGIES (the first wins ties, so the choice is deterministic). */
export function deflateSmallest(data: Uint8Array, level: DeflateLevel): Uint8Array {
  let best: Uint8Array | undefined;
  for (const strategy of STRATEGIES) {
    const out = deflateRawSync(data, { level, strategy, memLevel: 9 });
    if (!best || out.byteLength < best.byteLength) best = out;
  }
  return new Uint8Array(best!.buffer, best!.byteOffset, best!.byteLength);
}

export type DeflateLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** Largest codebook: symbols are bytes. */
export const MAX_CODEBOOK = 256;

export type EntropyResult =
  | { encoded: true; spec: WeightSpec; bytes: Uint8Array; layout: 'dense' | 'sparse'; symbols: number; entries: number }
  | { encoded: false; reason: string };

/**
 * Entropy-codes one weight. `stored` is the weight's current bytes, `values` what they decode to. Returns
 * { encoded: false, reason } when the weight has no small symbol alphabet or encoding would not shrink it.
 */
export function entropyEncode(spec: WeightSpec, stored: Uint8Array, values: Float32Array, level: DeflateLevel): EntropyResult {
  if (isEncoded(spec)) return { encoded: false, reason: 'already entropy-coded' };
  let header: Uint8Array;
  let symbols: Uint8Array;
  let zero: number | undefined;
  let quantization: Record<string, unknown>;
  if (isPackedDtype(spec.quantization?.dtype)) {
    // Keep the scales; the b-bit integers become the symbols (two's complement bits when signed).
    const q = spec.quantization as unknown as PackedQuantization;
    const l = packedLayout(spec);
    header = stored.subarray(0, l.scaleBytes);
    const ints = stored.subarray(l.scaleBytes);
    symbols = new Uint8Array(l.n);
    for (let i = 0; i < l.n; i++) symbols[i] = readInt(ints, i, l.bits, false);
    // Only a symmetric 0 decodes to 0.0 in every scale group.
    zero = q.symmetric ? 0 : undefined;
    quantization = { ...q };
  } else {
    const book = codebookOf(values);
    if (book === undefined) return { encoded: false, reason: `more than ${MAX_CODEBOOK} distinct values (cluster or quantize it first)` };
    header = new Uint8Array(book.values.buffer.slice(0));
    symbols = book.symbols;
    zero = book.zero;
    quantization = { dtype: 'codebook', codebookSize: book.values.length };
  }

  const dense = { layout: 'dense' as const, entries: symbols.length, streams: [deflateSmallest(symbols, level)] };
  let best: { layout: 'dense' | 'sparse'; entries: number; streams: Uint8Array[] } = dense;
  if (zero !== undefined) {
    const { gaps, kept } = sparsePairs(symbols, zero);
    if (kept.length < symbols.length) {
      const sparse = { layout: 'sparse' as const, entries: kept.length, streams: [deflateSmallest(gaps, level), deflateSmallest(kept, level)] };
      if (total(sparse.streams) < total(dense.streams)) best = sparse;
    }
  }
  const byteLength = header.byteLength + total(best.streams);
  if (byteLength >= stored.byteLength) return { encoded: false, reason: `encoding would not shrink it (${stored.byteLength} → ${byteLength} bytes)` };

  const bytes = new Uint8Array(byteLength);
  bytes.set(header, 0);
  let at = header.byteLength;
  for (const s of best.streams) {
    bytes.set(s, at);
    at += s.byteLength;
  }
  const encoding: EntropyEncoding = {
    method: 'deflate',
    layout: best.layout,
    entries: best.entries,
    ...(best.layout === 'sparse' ? { gapBytes: best.streams[0]!.byteLength } : {}),
    symbolBytes: best.streams.at(-1)!.byteLength,
  };
  const { checksum: _c, ...rest } = quantization;
  const out: WeightSpec = {
    ...spec,
    dtype: 'float32',
    quantization: { ...rest, encoding, checksum: checksum(bytes), original_dtype: 'float32' } as unknown as WeightSpec['quantization'],
  };
  // Lossless by construction; decode with the runtime's own decoder to prove it for every weight written.
  const back = decodeEncoded(out, bytes);
  for (let i = 0; i < values.length; i++) {
    if (back[i] !== values[i] && !(Number.isNaN(back[i]) && Number.isNaN(values[i]))) {
      throw new Error(`internal error: entropy coding of ${spec.name} is not lossless at element ${i} (${values[i]} → ${back[i]})`);
    }
  }
  return { encoded: true, spec: out, bytes, layout: best.layout, symbols: symbolCount(symbols), entries: best.entries };
}

/**
 * The distinct float32 values of `values` (by bit pattern, −0 folded into +0) ascending, and each element's
 * index; undefined when there are more than MAX_CODEBOOK.
 */
export function codebookOf(values: Float32Array): { values: Float32Array; symbols: Uint8Array; zero: number | undefined } | undefined {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const seen = new Set<number>();
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] === 0x80000000 ? 0 : bits[i]!;
    if (!seen.has(b)) {
      seen.add(b);
      if (seen.size > MAX_CODEBOOK) return undefined;
    }
  }
  const book = new Float32Array(seen.size);
  new Uint32Array(book.buffer).set([...seen]);
  book.sort();
  const bookBits = new Uint32Array(book.buffer);
  const index = new Map<number, number>();
  bookBits.forEach((b, k) => index.set(b, k));
  const symbols = new Uint8Array(values.length);
  for (let i = 0; i < bits.length; i++) symbols[i] = index.get(bits[i] === 0x80000000 ? 0 : bits[i]!)!;
  return { values: book, symbols, zero: index.get(0) };
}

/** Deep Compression's relative positions: per non-zero symbol the zeros before it, a stored zero every MAX_GAP + 1. */
export function sparsePairs(symbols: Uint8Array, zero: number): { gaps: Uint8Array; kept: Uint8Array } {
  const gaps: number[] = [];
  const kept: number[] = [];
  let run = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i]!;
    if (s === zero && run < MAX_GAP) {
      run++;
      continue;
    }
    // A non-zero, or the zero that a full gap must store explicitly.
    gaps.push(run);
    kept.push(s);
    run = 0;
  }
  return { gaps: Uint8Array.from(gaps), kept: Uint8Array.from(kept) };
}

function total(streams: Uint8Array[]): number {
  return streams.reduce((n, s) => n + s.byteLength, 0);
}

function symbolCount(symbols: Uint8Array): number {
  const seen = new Uint8Array(256);
  for (const s of symbols) seen[s] = 1;
  return seen.reduce((n, v) => n + v, 0);
}
