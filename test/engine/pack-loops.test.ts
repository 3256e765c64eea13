/**
 * src/engine/pack-loops.ts: the packed encoder's inner loops, checked against the format's own reader.
 */
import { describe, expect, it } from 'vitest';
import { forEachRun, groupParams, packRunSymmetric, type PackState } from '../../src/engine/pack-loops.js';
import { packedLayout, readInt, scaleIndex, type PackedLayout } from '../../src/runtime/format.js';

const layout = (shape: number[], groupSize?: number): PackedLayout => {
  const quantization = {
    dtype: 'int4',
    granularity: groupSize === undefined ? 'per-channel' : 'per-group',
    axis: shape.length - 1,
    ...(groupSize === undefined ? {} : { groupSize }),
    symmetric: true,
  };
  return packedLayout({ name: 'w', shape, dtype: 'float32', quantization }, true);
};

describe('pack loops', () => {
  for (const [label, l] of [
    ['one channel, runs cut at 4096', layout([10_000, 1], 6000)],
    ['many channels, groups of 3 rows', layout([7, 5], 3)],
    ['wide rows, cut at 4096', layout([2, 5000])],
  ] as const) {
    it(`forEachRun visits every element of each group once, in storage order: ${label}`, () => {
      const seen: number[] = [];
      for (let g = 0; g < l.groupsPerChannel; g++) {
        forEachRun(l, g, (i0, length, c0) => {
          expect(length).toBeGreaterThan(0);
          expect(length).toBeLessThanOrEqual(4096);
          const cStep = l.channels === 1 ? 0 : 1;
          for (let j = 0, c = c0; j < length; j++, c += cStep) {
            const i = i0 + j;
            expect(i % l.channels).toBe(c % l.channels);
            expect(scaleIndex(l, i)).toBe((i % l.channels) * l.groupsPerChannel + g);
            seen.push(i);
          }
        });
      }
      expect(seen).toEqual(Array.from({ length: l.n }, (_, i) => i).sort((a, b) => groupOf(l, a) - groupOf(l, b)));
    });
  }

  it('groupParams: symmetric scale is the float32 of max|w| / qmax, 1 for an all-zero channel', () => {
    const scale = new Float64Array(2);
    const offset = new Float64Array(2);
    groupParams(new Float64Array([-3.5, 0]), new Float64Array([2, 0]), true, 7, 1, scale, offset);
    expect([...scale]).toEqual([Math.fround(3.5 / 7), 1]);
    expect([...offset]).toEqual([0, 0]);
    groupParams(new Float64Array([-1]), new Float64Array([2]), false, 15, 0.5, scale, offset);
    expect(scale[0]).toBe(Math.fround(1.5 / 15));
    expect(offset[0]).toBe(Math.fround(-Math.round(0.5 / Math.fround(1.5 / 15)) * Math.fround(1.5 / 15)));
  });

  it('packRunSymmetric writes what readInt reads back, clamped to ±qmax, and sums the errors', () => {
    const values = new Float32Array([0.26, -0.74, 9, -9, 0, 0.49]);
    const scale = new Float64Array([0.25]);
    const ints = new Uint8Array(3);
    const st: PackState = { acc: 0, shift: 0, at: 0, maxAbs: 0, sumSq: 0 };
    packRunSymmetric(values, 0, values.length, 0, 0, scale, 7, 4, ints, st, true);
    expect(st.shift).toBe(0); // six nibbles: three whole bytes written
    expect([0, 1, 2, 3, 4, 5].map((i) => readInt(ints, i, 4, true))).toEqual([1, -3, 7, -7, 0, 2]);
    const errors = [...values].map((v, i) => Math.abs(v - Math.fround([1, -3, 7, -7, 0, 2][i]! * 0.25)));
    expect(st.maxAbs).toBe(Math.max(...errors));
    expect(st.sumSq).toBeCloseTo(
      errors.reduce((s, e) => s + e * e, 0),
      12,
    );
  });
});

/** The scale group of element i (groups are walked in order, elements within a group in storage order). */
function groupOf(l: PackedLayout, i: number): number {
  const r = Math.floor(i / l.channels);
  return Math.floor(r / l.groupSize) * l.n + i;
}
