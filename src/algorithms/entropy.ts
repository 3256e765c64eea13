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
 * Full LZ77 (repeated patterns) is tried too up to this many symbols, at the pass's level. Its matching is
 * what costs, and on symbols of clustered weights it does not pay: on the 224 MobileNetV2 pruned 50% and
 * clustered to 16 (3.5M weights), LZ77 at level 9 on streams of up to 2^20 symbols took 1.4 s of the pass's
 * 1.5 s, and with the layout chosen as smallestLayout chooses it the output was the same size without it.
 * Small streams (biases, the first convolutions) cost little and keep it for patterns it may find there.
 */
const LZ77_MAX_SYMBOLS = 1 << 12;

export type DeflateLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/**
 * The smallest raw DEFLATE stream of `data` among the strategies (the first wins ties: deterministic). A
 * stream above LZ77_MAX_SYMBOLS is Huffman-coded, and run-length coded too when at least half of its symbols
 * repeat the one before: on fewer repeats run-length coding cannot beat Huffman coding by more than a few
 * bytes (154 bytes of 1.3 MB on the 224 MobileNetV2 pruned and clustered) and doubles the zlib time.
 */
export function deflateSmallest(data: Uint8Array, level: DeflateLevel): Uint8Array {
  const strategies: number[] =
    data.byteLength <= LZ77_MAX_SYMBOLS
      ? [...STRATEGIES, constants.Z_DEFAULT_STRATEGY]
      : 2 * repeats(data) >= data.byteLength
        ? [...STRATEGIES]
        : [constants.Z_HUFFMAN_ONLY];
  let best: Uint8Array | undefined;
  for (const strategy of strategies) {
    const out = deflateRawSync(data, { level, strategy, memLevel: 9 });
    if (!best || out.byteLength < best.byteLength) best = out;
  }
  return new Uint8Array(best!.buffer, best!.byteOffset, best!.byteLength);
}

/** How many symbols equal the one before. */
function repeats(data: Uint8Array): number {
  let n = 0;
  for (let i = 1; i < data.length; i++) if (data[i] === data[i - 1]) n++;
  return n;
}

/** Largest codebook: symbols are bytes. */
export const MAX_CODEBOOK = 256;

/**
 * The distinct float32 values of `values` (by bit pattern, −0 folded into +0) ascending, and each element's
 * index; undefined when there are more than MAX_CODEBOOK. An open-addressing table of bit patterns keeps it
 * at a few nanoseconds per element (a Map was the encode pass's bottleneck) and stops at the 257th value.
 * The pass that puts the symbols in sorted order also counts them for the layout (layoutCounts, gaps of at
 * most `maxGap`): one pass over the symbols less.
 */
export function codebookOf(values: Float32Array, maxGap = 255): Codebook | undefined {
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
  // No branch on the values themselves (a shortcut for runs mispredicted on every other pruned weight, and
  // cost twice its saving): every element is hashed, and the probe almost always ends at its first slot.
  for (let i = 0; i < bits.length; i++) {
    const raw = bits[i]!;
    const b = raw === 0x80000000 ? 0 : raw;
    let h = Math.imul(b, 0x9e3779b1) >>> 22; // top 10 bits
    while (used[h] && keys[h] !== b) h = (h + 1) & (SLOTS - 1);
    if (!used[h]) {
      if (distinct === MAX_CODEBOOK) return undefined;
      used[h] = 1;
      keys[h] = b;
      provisional[h] = distinct;
      firstSeen[distinct++] = b;
    }
    symbols[i] = provisional[h]!;
  }
  const book = new Float32Array(distinct);
  const bookBits = new Uint32Array(book.buffer);
  bookBits.set(firstSeen.subarray(0, distinct));
  book.sort();
  const sortedIndex = new Map<number, number>();
  bookBits.forEach((b, k) => sortedIndex.set(b, k));
  const remap = new Uint8Array(256);
  for (let j = 0; j < distinct; j++) remap[j] = sortedIndex.get(firstSeen[j]!)!;
  const zero = sortedIndex.get(0);
  const counts = remapAndCount(symbols, remap, zero ?? -1, maxGap);
  return { values: book, symbols, zero, counts };
}

export interface Codebook {
  /** The distinct values, ascending. */
  values: Float32Array;
  /** Each element's index into `values`. */
  symbols: Uint8Array;
  /** The symbol of 0.0, if any. */
  zero: number | undefined;
  counts: LayoutCounts;
}

/** Counts of the symbols, and of the two streams sparsePairs would make with how many pairs it would make. */
export interface LayoutCounts {
  symbols: Int32Array;
  gaps: Int32Array;
  kept: Int32Array;
  entries: number;
}

/** Maps each symbol through `remap` in place, counting as layoutCounts does (`zero` −1 when there is none). */
function remapAndCount(symbols: Uint8Array, remap: Uint8Array, zero: number, maxGap: number): LayoutCounts {
  const all = new Int32Array(256);
  const gaps = new Int32Array(256);
  const kept = new Int32Array(256);
  let entries = 0;
  let run = 0;
  // Branch-free: whether a symbol is a skipped zero is as random as the pruning, and a mispredicted branch per
  // element cost more than the counting (z is 1 for a zero the gap skips, 0 for a symbol that is stored).
  for (let i = 0; i < symbols.length; i++) {
    const s = remap[symbols[i]!]!;
    symbols[i] = s;
    all[s]!++;
    const z = +(s === zero) & +(run < maxGap);
    gaps[run]! += 1 - z;
    kept[s]! += 1 - z;
    entries += 1 - z;
    run = (run + 1) * z;
  }
  return { symbols: all, gaps, kept, entries };
}

/**
 * Deep Compression's relative positions: per non-zero symbol the zeros before it, a stored zero every
 * maxGap + 1 (a gap must fit its byte).
 */
export function sparsePairs(
  symbols: Uint8Array,
  zero: number,
  maxGap: number,
  entries = symbols.length,
): { gaps: Uint8Array; kept: Uint8Array } {
  // `entries` (layoutCounts) sizes the streams (fresh memory costs a page fault per 4 kB touched), plus one:
  // branch-free, as remapAndCount, every symbol is written at m, and m moves on past the ones stored.
  const gaps = new Uint8Array(entries + 1);
  const kept = new Uint8Array(entries + 1);
  let m = 0;
  let run = 0;
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i]!;
    // 1 for a zero the gap skips; 0 for a non-zero, or the zero that a full gap must store explicitly.
    const z = +(s === zero) & +(run < maxGap);
    gaps[m] = run;
    kept[m] = s;
    m += 1 - z;
    run = (run + 1) * z;
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
 * 0.0 and some symbols are zeros, sparse (sparsePairs: a gap stream and a symbol stream). The layout is chosen
 * by the size of an optimal prefix code of each stream's symbol counts (huffmanBits; dense wins ties), and
 * only the chosen layout is deflated: deflating both cost twice the zlib time for a choice the estimate gets
 * right (on the 224 MobileNetV2 pruned and clustered, the streams came out the same size to 0.01%).
 * `counts` are layoutCounts' of the symbols when the caller has them (codebookOf gives them).
 */
export function smallestLayout(
  symbols: Uint8Array,
  zero: number | undefined,
  level: DeflateLevel,
  maxGap: number,
  counts?: LayoutCounts,
): SymbolLayout {
  const dense = (): SymbolLayout => ({
    layout: 'dense',
    entries: symbols.length,
    sources: [symbols],
    streams: [deflateSmallest(symbols, level)],
  });
  if (zero === undefined) return dense();
  counts ??= layoutCounts(symbols, zero, maxGap);
  if (counts.entries >= symbols.length) return dense();
  if (huffmanBits(counts.gaps) + huffmanBits(counts.kept) >= huffmanBits(counts.symbols)) return dense();
  const { gaps, kept } = sparsePairs(symbols, zero, maxGap, counts.entries);
  return {
    layout: 'sparse',
    entries: kept.length,
    sources: [gaps, kept],
    streams: [deflateSmallest(gaps, level), deflateSmallest(kept, level)],
  };
}

/**
 * Counts of each symbol value in `symbols`, and in the two streams sparsePairs would make (gaps, kept
 * symbols) with how many pairs it would make: the layout decision without building the streams.
 */
export function layoutCounts(symbols: Uint8Array, zero: number, maxGap: number): LayoutCounts {
  // The identity remap writes each symbol back unchanged.
  return remapAndCount(symbols, IDENTITY, zero, maxGap);
}

const IDENTITY = Uint8Array.from({ length: 256 }, (_, k) => k);

/**
 * Bits of an optimal prefix (Huffman) code of symbols occurring `counts` times: the sum of the weights of the
 * merged nodes (each merge adds one bit to every symbol under it). A lone symbol costs a bit each, as DEFLATE
 * codes it. DEFLATE's 15-bit length limit and block headers are left out: this ranks layouts, it is not a size.
 */
export function huffmanBits(counts: Int32Array): number {
  const leaves = Array.from(counts.filter((c) => c > 0)).sort((a, b) => a - b);
  if (leaves.length < 2) return leaves[0] ?? 0;
  // Two queues: the sorted leaves, and the merged nodes, which come out in ascending order.
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  const next = () =>
    i < leaves.length && (j >= merged.length || leaves[i]! <= merged[j]!) ? leaves[i++]! : merged[j++]!;
  let bits = 0;
  for (let k = 1; k < leaves.length; k++) {
    const w = next() + next();
    merged.push(w);
    bits += w;
  }
  return bits;
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
