/**
 * Encoder of entropy-coded weights (src/runtime/encoded.ts is the decoder, shared with the runtime loader).
 * Lossless: the encoded weight decodes to exactly the float32 values the input weight decodes to (−0 as +0).
 *
 * Streams are compressed with zlib (Node's), decoded with fflate's inflate (any DEFLATE stream). zlib matters
 * for its strategies: on independent symbols, LZ77 matches cost more than they save (a skewed 16-symbol
 * stream came out 30% above its entropy with the default strategy), while Huffman-only coding lands within a
 * few block headers of it. Each stream is compressed with several strategies and the smallest kept.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { checksum, isPackedDtype, packedLayout, readInt, type PackedQuantization } from '../runtime/decode.js';
import { inflateSync } from 'fflate';
import { MAX_GAP, isEncoded, type EntropyEncoding } from '../runtime/encoded.js';
import type { WeightSpec } from '../model/index.js';

/** Huffman only (independent symbols) and run-length (long zero or filler runs): fast on any size. */
const STRATEGIES = [constants.Z_HUFFMAN_ONLY, constants.Z_RLE] as const;
/**
 * Full LZ77 (repeated patterns) is tried too up to this many symbols: on a 5M-symbol stream of 90% zeros it
 * took 6.7 s at level 9 (lazy matching on endless zero runs) against 0.03–0.13 s for the two above, and the
 * sparse layout beat it anyway.
 */
const LZ77_MAX_SYMBOLS = 1 << 20;

/** The smallest raw DEFLATE stream of `data` among the strategies (the first wins ties: deterministic). */
export function deflateSmallest(data: Uint8Array, level: DeflateLevel): Uint8Array {
  const strategies: number[] =
    data.byteLength <= LZ77_MAX_SYMBOLS ? [...STRATEGIES, constants.Z_DEFAULT_STRATEGY] : [...STRATEGIES];
  let best: Uint8Array | undefined;
  for (const strategy of strategies) {
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
export function entropyEncode(
  spec: WeightSpec,
  stored: Uint8Array,
  values: Float32Array,
  level: DeflateLevel,
): EntropyResult {
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
    if (book === undefined)
      return { encoded: false, reason: `more than ${MAX_CODEBOOK} distinct values (cluster or quantize it first)` };
    header = new Uint8Array(book.values.buffer.slice(0));
    symbols = book.symbols;
    zero = book.zero;
    quantization = { dtype: 'codebook', codebookSize: book.values.length };
  }

  const dense = {
    layout: 'dense' as const,
    entries: symbols.length,
    sources: [symbols],
    streams: [deflateSmallest(symbols, level)],
  };
  let best: { layout: 'dense' | 'sparse'; entries: number; sources: Uint8Array[]; streams: Uint8Array[] } = dense;
  if (zero !== undefined) {
    const { gaps, kept } = sparsePairs(symbols, zero);
    if (kept.length < symbols.length) {
      const sparse = {
        layout: 'sparse' as const,
        entries: kept.length,
        sources: [gaps, kept],
        streams: [deflateSmallest(gaps, level), deflateSmallest(kept, level)],
      };
      if (total(sparse.streams) < total(dense.streams)) best = sparse;
    }
  }
  const byteLength = header.byteLength + total(best.streams);
  if (byteLength >= stored.byteLength)
    return { encoded: false, reason: `encoding would not shrink it (${stored.byteLength} → ${byteLength} bytes)` };

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
    quantization: {
      ...rest,
      encoding,
      checksum: checksum(bytes),
      original_dtype: 'float32',
    } as unknown as NonNullable<WeightSpec['quantization']>,
  };
  // The runtime inflates with fflate what zlib deflated here: inflate every stream with the runtime's own
  // inflate and compare it byte for byte, so a disagreement between the two fails the build, not a user's
  // load. (The symbol → value mapping is the decoder's; tests decode whole weights against their input.
  // Decoding every weight here too halved the pass's speed: 100 MB of fresh float32 per 25M weights.)
  let at2 = header.byteLength;
  best.streams.forEach((stream, k) => {
    const back = inflateSync(bytes.subarray(at2, at2 + stream.byteLength));
    at2 += stream.byteLength;
    if (!equalBytes(back, best.sources[k]!))
      throw new Error(`internal error: the DEFLATE stream ${k} of ${spec.name} does not inflate to what was deflated`);
  });
  return { encoded: true, spec: out, bytes, layout: best.layout, symbols: symbolCount(symbols), entries: best.entries };
}

/**
 * The distinct float32 values of `values` (by bit pattern, −0 folded into +0) ascending, and each element's
 * index; undefined when there are more than MAX_CODEBOOK. An open-addressing table of bit patterns keeps it
 * at a few nanoseconds per element (a Map was the pass's bottleneck) and stops at the 257th value.
 */
export function codebookOf(
  values: Float32Array,
): { values: Float32Array; symbols: Uint8Array; zero: number | undefined } | undefined {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const SLOTS = 1024; // power of two, 4x MAX_CODEBOOK: short probe runs
  const keys = new Uint32Array(SLOTS);
  const used = new Uint8Array(SLOTS);
  // Provisional symbols in order of first appearance, remapped to sorted order at the end (in place: no
  // second per-element array; fresh memory is a large part of the cost on big weights).
  const provisional = new Uint8Array(SLOTS);
  const firstSeen = new Uint32Array(MAX_CODEBOOK);
  const symbols = new Uint8Array(values.length);
  let distinct = 0;
  let last = -1;
  let lastSymbol = 0;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] === 0x80000000 ? 0 : bits[i]!;
    if (b === last) {
      // Runs (pruned zeros above all) skip the hash.
      symbols[i] = lastSymbol;
      continue;
    }
    let h = Math.imul(b, 0x9e3779b1) >>> 22; // top 10 bits
    while (used[h] && keys[h] !== b) h = (h + 1) & (SLOTS - 1);
    if (!used[h]) {
      if (distinct === MAX_CODEBOOK) return undefined;
      used[h] = 1;
      keys[h] = b;
      provisional[h] = distinct;
      firstSeen[distinct++] = b;
    }
    symbols[i] = lastSymbol = provisional[h]!;
    last = b;
  }
  const book = new Float32Array(distinct);
  const bookBits = new Uint32Array(book.buffer);
  bookBits.set(firstSeen.subarray(0, distinct));
  book.sort();
  const sortedIndex = new Map<number, number>();
  bookBits.forEach((b, k) => sortedIndex.set(b, k));
  const remap = new Uint8Array(256);
  for (let j = 0; j < distinct; j++) remap[j] = sortedIndex.get(firstSeen[j]!)!;
  for (let i = 0; i < symbols.length; i++) symbols[i] = remap[symbols[i]!]!;
  return { values: book, symbols, zero: sortedIndex.get(0) };
}

/** Deep Compression's relative positions: per non-zero symbol the zeros before it, a stored zero every MAX_GAP + 1. */
export function sparsePairs(symbols: Uint8Array, zero: number): { gaps: Uint8Array; kept: Uint8Array } {
  const gaps = new Uint8Array(symbols.length);
  const kept = new Uint8Array(symbols.length);
  let m = 0;
  let run = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i]!;
    if (s === zero && run < MAX_GAP) {
      run++;
      continue;
    }
    // A non-zero, or the zero that a full gap must store explicitly.
    gaps[m] = run;
    kept[m++] = s;
    run = 0;
  }
  return { gaps: gaps.subarray(0, m), kept: kept.subarray(0, m) };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.byteLength === b.byteLength &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}

function total(streams: Uint8Array[]): number {
  return streams.reduce((n, s) => n + s.byteLength, 0);
}

function symbolCount(symbols: Uint8Array): number {
  const seen = new Uint8Array(256);
  for (let i = 0; i < symbols.length; i++) seen[symbols[i]!] = 1;
  let n = 0;
  for (let k = 0; k < 256; k++) n += seen[k]!;
  return n;
}
