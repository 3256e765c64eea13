/**
 * Entropy coding of symbol alphabets (src/algorithms/entropy.ts): codebooks, Deep Compression's sparse
 * (gap, symbol) pairs, and the DEFLATE streams of the chosen layout, decoded back with fflate's inflate (the
 * one the runtime loader uses, src/runtime/encoded.ts) to exactly the input.
 */
import { inflateSync } from 'fflate';
import { constants, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  codebookOf,
  deflateSmallest,
  huffmanBits,
  layoutCounts,
  MAX_CODEBOOK,
  smallestLayout,
  sparsePairs,
  streamBytes,
  symbolCount,
} from '../../src/algorithms/entropy.js';
import { MAX_GAP } from '../../src/runtime/encoded.js';
import { mulberry32 } from '../../src/util/random.js';

/** n values drawn from `book` with the given probabilities (seeded). */
function drawn(n: number, book: number[], p: number[], seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => {
    let u = r();
    for (let k = 0; k < book.length; k++) {
      u -= p[k]!;
      if (u < 0) return book[k]!;
    }
    return book.at(-1)!;
  });
}

/** The symbols back from a layout's streams, through the runtime's inflate: as the decoder reads them. */
function decodeLayout(l: ReturnType<typeof smallestLayout>, n: number, zero: number | undefined): Uint8Array {
  const streams = l.streams.map((s) => inflateSync(s));
  streams.forEach((s, k) => expect(s).toEqual(l.sources[k]));
  if (l.layout === 'dense') return streams[0]!;
  const [gaps, kept] = streams as [Uint8Array, Uint8Array];
  const out = new Uint8Array(n).fill(zero!);
  let pos = 0;
  for (let j = 0; j < kept.length; j++) {
    pos += gaps[j]!;
    out[pos++] = kept[j]!;
  }
  return out;
}

describe('codebookOf', () => {
  it('the distinct values ascending and each element its index; −0 folds into +0', () => {
    const v = Float32Array.from([0.5, -0, -1.25, 0.5, 0, 3, -1.25, -0]);
    const book = codebookOf(v)!;
    expect(Array.from(book.values)).toEqual([-1.25, 0, 0.5, 3]);
    expect(Object.is(book.values[1], 0)).toBe(true);
    expect(Array.from(book.symbols)).toEqual([2, 1, 0, 2, 1, 3, 0, 1]);
    expect(book.zero).toBe(1);
    expect(codebookOf(Float32Array.from([1, 2]))!.zero).toBeUndefined();
  });

  it(`takes up to ${MAX_CODEBOOK} distinct values and no more`, () => {
    const random = mulberry32(1);
    const values = Array.from({ length: MAX_CODEBOOK + 1 }, (_, k) => Math.fround((k - 128) / 3));
    const v = Float32Array.from({ length: 20_000 }, (_, i) => values[i < 256 ? i : Math.floor(random() * 256)]!);
    const book = codebookOf(v)!;
    expect(book.values).toHaveLength(256);
    for (let i = 0; i < v.length; i++) expect(book.values[book.symbols[i]!]).toBe(v[i]);
    v[12_345] = values[256]!;
    expect(codebookOf(v)).toBeUndefined();
  });
});

describe('layout counts', () => {
  it('huffmanBits is the size of an optimal prefix code; a lone symbol costs a bit each', () => {
    // Code lengths 1, 2, 3, 3 for counts 4, 2, 1, 1.
    const counts = new Int32Array(256);
    [counts[7], counts[3], counts[200], counts[9]] = [4, 2, 1, 1];
    expect(huffmanBits(counts)).toBe(4 * 1 + 2 * 2 + 1 * 3 + 1 * 3);
    const lone = new Int32Array(256);
    lone[5] = 17;
    expect(huffmanBits(lone)).toBe(17);
    expect(huffmanBits(new Int32Array(256))).toBe(0);
    // Within a bit per symbol of the entropy, as any Huffman code.
    const v = drawn(10_000, [0, 1, 2, 3, 4], [0.5, 0.2, 0.15, 0.1, 0.05], 3);
    const book = codebookOf(v)!;
    const c = book.counts.symbols;
    const entropy = Array.from(c).reduce((h, n) => (n ? h - n * Math.log2(n / v.length) : h), 0);
    expect(huffmanBits(c)).toBeGreaterThanOrEqual(entropy);
    expect(huffmanBits(c)).toBeLessThan(entropy + v.length);
  });

  it('codebookOf counts the symbols and the sparse streams as layoutCounts and sparsePairs find them', () => {
    const v = drawn(30_000, [0, -0.3, 0.05, 0.2], [0.97, 0.01, 0.01, 0.01], 5);
    const book = codebookOf(v, MAX_GAP)!;
    const counts = layoutCounts(book.symbols, book.zero!, MAX_GAP);
    expect(book.counts).toEqual(counts);
    const { gaps, kept } = sparsePairs(book.symbols, book.zero!, MAX_GAP, counts.entries);
    expect(kept.length).toBe(counts.entries);
    const histogram = (a: Uint8Array) => a.reduce((h, s) => (h[s]!++, h), new Int32Array(256));
    expect(histogram(gaps)).toEqual(counts.gaps);
    expect(histogram(kept)).toEqual(counts.kept);
    expect(histogram(book.symbols)).toEqual(counts.symbols);
    // Runs of more than MAX_GAP zeros happen at 97% zeros: fillers are counted as kept zeros.
    expect(counts.kept[book.zero!]).toBeGreaterThan(0);
  });
});

describe('sparsePairs', () => {
  it('zero runs longer than one gap byte are bridged by stored zeros', () => {
    const v = new Float32Array(5000);
    v[0] = 1;
    v[300] = 2; // a gap of 299 zeros: one filler (255 skipped + a stored zero), then 43 more
    v[4999] = 3; // 4698 zeros: many fillers
    const book = codebookOf(v)!;
    const { gaps, kept } = sparsePairs(book.symbols, book.zero!, MAX_GAP);
    expect(Array.from(gaps.slice(0, 4))).toEqual([0, MAX_GAP, 299 - MAX_GAP - 1, MAX_GAP]);
    expect(gaps.length).toBe(kept.length);
    expect(kept.filter((s) => s !== book.zero).length).toBe(3);
    // Every stored pair consumes gap + 1 elements: the pairs cover exactly up to the last non-zero.
    expect(Array.from(gaps).reduce((n, g) => n + g + 1, 0)).toBe(5000);
  });

  it('stores nothing for trailing zeros, and every symbol of a run-free input', () => {
    const { gaps, kept } = sparsePairs(Uint8Array.from([0, 2, 0, 0, 1, 0, 0]), 0, 3);
    expect(Array.from(gaps)).toEqual([1, 2]);
    expect(Array.from(kept)).toEqual([2, 1]);
    const dense = sparsePairs(Uint8Array.from([1, 2, 3]), 0, 3);
    expect(Array.from(dense.gaps)).toEqual([0, 0, 0]);
    expect(Array.from(dense.kept)).toEqual([1, 2, 3]);
  });
});

describe('DEFLATE streams and the layout', () => {
  it('a mostly-zero weight takes the sparse layout, a dense one the dense layout, the smaller; both round-trip exactly', () => {
    const cases = [
      { v: drawn(20_000, [0, -0.3, -0.1, 0.05, 0.2], [0.9, 0.03, 0.03, 0.02, 0.02], 1), layout: 'sparse' },
      { v: drawn(4096, [-1, -0.5, 0.25, 2], [0.4, 0.3, 0.2, 0.1], 2), layout: 'dense' },
    ];
    for (const { v, layout } of cases) {
      const book = codebookOf(v)!;
      const l = smallestLayout(book.symbols, book.zero, 9, MAX_GAP);
      expect(l.layout).toBe(layout);
      // The other layout would have been larger.
      const dense = deflateSmallest(book.symbols, 9).byteLength;
      const pairs = sparsePairs(book.symbols, book.zero ?? -1, MAX_GAP);
      const sparse = deflateSmallest(pairs.gaps, 9).byteLength + deflateSmallest(pairs.kept, 9).byteLength;
      expect(streamBytes(l.streams)).toBe(Math.min(dense, sparse));
      expect(l.entries).toBe(l.sources.at(-1)!.length);
      const symbols = decodeLayout(l, v.length, book.zero);
      expect(Array.from(symbols, (s) => book.values[s])).toEqual(Array.from(v));
      expect(symbolCount(book.symbols)).toBe(book.values.length);
    }
  });

  it('without a zero symbol the layout is dense', () => {
    const symbols = Uint8Array.from({ length: 3000 }, (_, i) => (i % 50 === 0 ? 1 : 0));
    expect(smallestLayout(symbols, undefined, 9, MAX_GAP).layout).toBe('dense');
    expect(smallestLayout(symbols, 0, 9, MAX_GAP).layout).toBe('sparse');
  });

  it('deflateSmallest is no larger than any single zlib strategy and codes near the empirical entropy', () => {
    // Independent symbols with a skewed distribution: Huffman coding is what pays.
    const p = Array.from({ length: 16 }, (_, k) => 2 ** -(k + 1));
    p[15] = p[14]!;
    const symbols = Uint8Array.from(drawn(50_000, [...Array(16).keys()], p, 4));
    const counts = new Array<number>(16).fill(0);
    for (const s of symbols) counts[s]!++;
    const bits = counts.reduce((h, c) => (c ? h - c * Math.log2(c / symbols.length) : h), 0);
    for (const level of [1, 9] as const) {
      const out = deflateSmallest(symbols, level);
      expect(inflateSync(out)).toEqual(symbols);
      for (const strategy of [constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_DEFAULT_STRATEGY])
        expect(out.byteLength).toBeLessThanOrEqual(
          deflateRawSync(symbols, { level, strategy, memLevel: 9 }).byteLength,
        );
      expect(out.byteLength).toBeGreaterThanOrEqual(Math.floor(bits / 8));
      expect(out.byteLength).toBeLessThan((bits / 8) * 1.03 + 64);
    }
    expect(streamBytes([new Uint8Array(3), new Uint8Array(5)])).toBe(8);
  });

  it('long streams: Huffman only when few symbols repeat, run-length too when most do', () => {
    const random = mulberry32(8);
    // 200k independent symbols: run-length coding is not tried, Huffman only.
    const iid = Uint8Array.from({ length: 200_000 }, () => Math.floor(random() * 6));
    const huffman = deflateRawSync(iid, { level: 9, strategy: constants.Z_HUFFMAN_ONLY, memLevel: 9 });
    expect(Buffer.from(deflateSmallest(iid, 9)).equals(huffman)).toBe(true);
    // Long runs: run-length coding wins by far, and is taken.
    const runs = Uint8Array.from({ length: 200_000 }, (_, i) => Math.floor(i / 1000) % 3);
    const out = deflateSmallest(runs, 9);
    expect(out.byteLength).toBeLessThan(
      deflateRawSync(runs, { level: 9, strategy: constants.Z_HUFFMAN_ONLY, memLevel: 9 }).byteLength / 10,
    );
    expect(Buffer.from(inflateSync(out)).equals(runs)).toBe(true);
  });
});
