/**
 * Entropy coding of small symbol alphabets (Deep Compression's last stage): a weight's distinct values as a
 * codebook and one byte-sized symbol per element, stored as raw DEFLATE, densely or as (gap, symbol) pairs
 * when most symbols are zeros. The container format (manifest entries, headers, checksums) is the encoder's in
 * src/engine/entropy.ts; src/runtime/encoded.ts decodes it.
 *
 * Streams are compressed with zlib (Node's), decoded with fflate's inflate (any DEFLATE stream). zlib matters
 * for its strategies: on independent symbols, LZ77 matches cost more than they save (a skewed 16-symbol
 * stream came out 30% above its entropy with the default strategy), while Huffman-only coding lands within a
 * few block headers of it. Each stream is compressed with several strategies and the smallest kept.
 */
import { constants, deflateRawSync } from 'node:zlib';

/** Huffman only (independent symbols) and run-length (long zero or filler runs): fast on any size. */
const STRATEGIES = [constants.Z_HUFFMAN_ONLY, constants.Z_RLE] as const;
/**
 * Full LZ77 (repeated patterns) is tried too up to this many symbols: on a 5M-symbol stream of 90% zeros it
 * took 6.7 s at level 9 (lazy matching on endless zero runs) against 0.03–0.13 s for the two above, and the
 * sparse layout beat it anyway.
 */
const LZ77_MAX_SYMBOLS = 1 << 20;

export type DeflateLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

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

/** Largest codebook: symbols are bytes. */
export const MAX_CODEBOOK = 256;

/**
 * The distinct float32 values of `values` (by bit pattern, −0 folded into +0) ascending, and each element's
 * index; undefined when there are more than MAX_CODEBOOK. An open-addressing table of bit patterns keeps it
 * at a few nanoseconds per element (a Map was the encode pass's bottleneck) and stops at the 257th value.
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

/**
 * Deep Compression's relative positions: per non-zero symbol the zeros before it, a stored zero every
 * maxGap + 1 (a gap must fit its byte).
 */
export function sparsePairs(symbols: Uint8Array, zero: number, maxGap: number): { gaps: Uint8Array; kept: Uint8Array } {
  const gaps = new Uint8Array(symbols.length);
  const kept = new Uint8Array(symbols.length);
  let m = 0;
  let run = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i]!;
    if (s === zero && run < maxGap) {
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

/** Symbols as DEFLATE streams: `sources` deflated into `streams` (the gaps first, for the sparse layout). */
export interface SymbolLayout {
  layout: 'dense' | 'sparse';
  /** Symbols stored: all of them (dense), or the (gap, symbol) pairs (sparse). */
  entries: number;
  sources: Uint8Array[];
  streams: Uint8Array[];
}

/**
 * The smaller way to store `symbols`: dense (every symbol in one stream), or, when `zero` is the symbol of
 * 0.0 and some symbols are zeros, sparse (sparsePairs: a gap stream and a symbol stream). Dense wins ties.
 */
export function smallestLayout(
  symbols: Uint8Array,
  zero: number | undefined,
  level: DeflateLevel,
  maxGap: number,
): SymbolLayout {
  const dense: SymbolLayout = {
    layout: 'dense',
    entries: symbols.length,
    sources: [symbols],
    streams: [deflateSmallest(symbols, level)],
  };
  if (zero === undefined) return dense;
  const { gaps, kept } = sparsePairs(symbols, zero, maxGap);
  if (kept.length >= symbols.length) return dense;
  const sparse: SymbolLayout = {
    layout: 'sparse',
    entries: kept.length,
    sources: [gaps, kept],
    streams: [deflateSmallest(gaps, level), deflateSmallest(kept, level)],
  };
  return streamBytes(sparse.streams) < streamBytes(dense.streams) ? sparse : dense;
}

/** The total byte length of the streams. */
export function streamBytes(streams: readonly Uint8Array[]): number {
  return streams.reduce((n, s) => n + s.byteLength, 0);
}

/** The number of distinct symbols. */
export function symbolCount(symbols: Uint8Array): number {
  const seen = new Uint8Array(256);
  for (let i = 0; i < symbols.length; i++) seen[symbols[i]!] = 1;
  let n = 0;
  for (let k = 0; k < 256; k++) n += seen[k]!;
  return n;
}
