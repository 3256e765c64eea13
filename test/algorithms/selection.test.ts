/**
 * Magnitude and N:M selection (src/algorithms/selection.ts) against sort-based references, byte for byte:
 * exact counts, ties by position, pruned values +0.
 */
import { describe, expect, it } from 'vitest';
import { countZeros, pruneNM, pruneSmallest } from '../../src/algorithms/selection.js';
import { mulberry32 } from '../../src/util/random.js';

describe('pruneSmallest', () => {
  it('pruneSmallest agrees with a sort-based reference, with and without many ties, over several arrays', () => {
    const random = mulberry32(3);
    for (let trial = 0; trial < 300; trial++) {
      const levels = trial % 3 === 0 ? 5 : trial % 3 === 1 ? 1000 : 1e9;
      const arrays = Array.from({ length: 1 + (trial % 4) }, () =>
        Float32Array.from(
          { length: Math.floor(random() * 200) },
          () => ((Math.floor(random() * levels) - levels / 2) / 7) * (random() < 0.01 ? 1e30 : 1),
        ),
      );
      const flat = arrays.flatMap((a) => Array.from(a));
      const k = Math.floor(random() * (flat.length + 2));
      // Reference: stable sort of positions by magnitude; the first k go.
      const order = flat.map((_, i) => i).sort((x, y) => Math.abs(flat[x]!) - Math.abs(flat[y]!) || x - y);
      const expected = Float32Array.from(flat);
      for (const i of order.slice(0, k)) expected[i] = 0;
      pruneSmallest(arrays, k);
      expect(arrays.flatMap((a) => Array.from(a))).toEqual(Array.from(expected));
    }
  });

  it('pruneSmallest zeroes exactly k of the smallest magnitudes over several arrays, ties by position', () => {
    const a = Float32Array.from([0.5, -0.1, 0.2, -0.2, 0.2]);
    const b = Float32Array.from([-0.2, 0.9, 0]);
    pruneSmallest([a, b], 4); // 0, -0.1, then two of the four ±0.2 in order: a[2], a[3]
    expect(Array.from(a)).toEqual([0.5, 0, 0, 0, Math.fround(0.2)]);
    expect(Array.from(b)).toEqual([Math.fround(-0.2), Math.fround(0.9), 0]);
  });

  it('k ≤ 0 leaves the arrays alone, k ≥ n zeroes everything, empty arrays are fine', () => {
    const a = Float32Array.from([3, -1, 2]);
    pruneSmallest([a], 0);
    pruneSmallest([a], -2);
    expect(Array.from(a)).toEqual([3, -1, 2]);
    pruneSmallest([new Float32Array(0), a], 5);
    expect(Array.from(a)).toEqual([0, 0, 0]);
    pruneSmallest([], 3);
  });

  it('handles magnitudes across the whole float32 range (the two histogram passes meet at every bit)', () => {
    const v = Float32Array.from([1e-45, -3.4e38, 1e-38, -1e-20, 7, 65504, -1.5e-42, 0.25]);
    pruneSmallest([v], 4); // 1e-45, -1.5e-42, 1e-38, -1e-20
    expect(Array.from(v)).toEqual([0, Math.fround(-3.4e38), 0, 0, 7, 65504, 0, 0.25]);
  });
});

describe('pruneNM', () => {
  it('every N:M with M ≤ 16 agrees with a stable sort of each group, with ties and ±0', () => {
    const random = mulberry32(21);
    for (const m of [2, 3, 4, 5, 8, 16]) {
      for (let n = 1; n < m; n++) {
        for (const levels of [3, 1e6]) {
          const shape = [2, m * 3, 5]; // leading 2, input m·3, output 5
          const v = Float32Array.from(
            { length: 2 * m * 3 * 5 },
            () => (Math.floor(random() * levels) - levels / 2) / 3,
          );
          const original = Float32Array.from(v);
          pruneNM(v, shape, n, m);
          const expected = Float32Array.from(original);
          for (let lead = 0; lead < 2; lead++) {
            for (let g = 0; g < m * 3; g += m) {
              for (let c = 0; c < 5; c++) {
                const idx = Array.from({ length: m }, (_, i) => (lead * m * 3 + g + i) * 5 + c);
                const drop = [...idx].sort((x, y) => Math.abs(original[y]!) - Math.abs(original[x]!) || x - y).slice(n);
                for (const i of drop) expected[i] = 0;
              }
            }
          }
          // Byte for byte: pruned weights are +0, kept ones untouched (a kept −0 stays −0).
          expect(new Uint8Array(v.buffer)).toEqual(new Uint8Array(expected.buffer));
        }
      }
    }
  });

  it('a group with ties keeps the earlier weights; large M uses the same rule', () => {
    const v = Float32Array.from([1, 1, 1, 1, 5, -5, 2, 0]); // Dense [8, 1]
    pruneNM(v, [8, 1], 2, 4);
    expect(Array.from(v)).toEqual([1, 1, 0, 0, 5, -5, 0, 0]);
    const random = mulberry32(9);
    const big = Float32Array.from({ length: 64 * 3 }, () => Math.floor(random() * 5) - 2);
    const small = Float32Array.from(big);
    pruneNM(big, [64, 3], 10, 32);
    // Reference: the insertion-sort path on M = 32 groups split the same way must agree group by group.
    for (let c = 0; c < 3; c++) {
      for (let g = 0; g < 64; g += 32) {
        const idx = Array.from({ length: 32 }, (_, i) => (g + i) * 3 + c);
        const keep = [...idx].sort((x, y) => Math.abs(small[y]!) - Math.abs(small[x]!) || x - y).slice(0, 10);
        for (const i of idx) expect(big[i]).toBe(keep.includes(i) ? small[i] : 0);
      }
    }
  });

  it('keeps exactly N non-zero weights in every group of M distinct magnitudes, along the input axis only', () => {
    const random = mulberry32(4);
    const shape = [3, 3, 8, 6]; // a Conv2D kernel: 3×3 window, 8 inputs, 6 outputs
    const v = Float32Array.from({ length: 3 * 3 * 8 * 6 }, () => random() - 0.5);
    pruneNM(v, shape, 2, 4);
    for (let lead = 0; lead < 9; lead++)
      for (let g = 0; g < 8; g += 4)
        for (let c = 0; c < 6; c++) {
          const group = Array.from({ length: 4 }, (_, i) => v[(lead * 8 + g + i) * 6 + c]!);
          expect(group.filter((x) => x !== 0)).toHaveLength(2);
        }
    expect(countZeros(v)).toBe(v.length / 2);
  });
});

describe('countZeros', () => {
  it('counts ±0 and stores −0 as +0, leaving every other value bit for bit', () => {
    // 1e-45: the smallest float32 denormal, not a zero.
    const v = Float32Array.from([0, -0, 1.5, -0, -2, 0, 1e-45]);
    const before = Float32Array.from(v);
    expect(countZeros(v)).toBe(4);
    const bits = new Uint32Array(v.buffer);
    expect(Array.from(bits.subarray(0, 2))).toEqual([0, 0]);
    expect(bits[3]).toBe(0);
    for (const i of [2, 4, 6]) expect(v[i]).toBe(before[i]);
    expect(countZeros(new Float32Array(0))).toBe(0);
  });
});
