/**
 * src/runtime/format.ts: the packed format's pieces both decoders share (layout, checksum, element counts).
 */
import { describe, expect, it } from 'vitest';
import {
  checksum,
  crc32,
  elementCount,
  packedLayout,
  PackedFormatError,
  readInt,
  scaleIndex,
  type ManifestEntry,
} from '../../src/runtime/format.js';

const spec = (shape: number[], members: Record<string, unknown>): ManifestEntry => {
  const quantization = { dtype: 'int4', checksum: '', ...members };
  return { name: 'd/kernel', shape, dtype: 'float32', quantization };
};

describe('runtime format', () => {
  it('crc32 is the IEEE CRC-32 (zlib, PNG) and checksum its tagged hex', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32(bytes)).toBe(0xcbf43926); // the standard check value
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(checksum(bytes)).toBe('crc32:cbf43926');
    expect(checksum(new Uint8Array([0]))).toBe('crc32:d202ef8d');
  });

  it('elementCount multiplies the dimensions (a scalar has one element, an empty axis none)', () => {
    expect(elementCount([3, 4, 5])).toBe(60);
    expect(elementCount([])).toBe(1);
    expect(elementCount([7, 0])).toBe(0);
  });

  it('packedLayout: per-group int4 of a [10, 3] kernel has 3 channels × 3 groups of scales', () => {
    const l = packedLayout(
      spec([10, 3], { granularity: 'per-group', axis: 1, groupSize: 4, symmetric: false, scaleCount: 9 }),
    );
    expect(l).toEqual({
      n: 30,
      bits: 4,
      channels: 3,
      reduction: 10,
      groupSize: 4,
      groupsPerChannel: 3,
      scaleCount: 9,
      scaleBytes: 4 * 9 * 2, // scales and offsets
      intBytes: 15,
      byteLength: 72 + 15,
    });
    // Element i = r·C + c: row 9 of channel 2 is in that channel's third group.
    expect(scaleIndex(l, 9 * 3 + 2)).toBe(2 * 3 + 2);
    expect(scaleIndex(l, 0)).toBe(0);
  });

  it('packedLayout refuses inconsistent members with the weight named', () => {
    expect(() =>
      packedLayout(spec([10, 3], { granularity: 'per-channel', axis: 2, symmetric: true, scaleCount: 3 })),
    ).toThrow(new PackedFormatError('weight d/kernel: quantization.axis 2 is not an axis of shape [10,3]'));
    expect(() => packedLayout(spec([10, 3], { granularity: 'per-tensor', symmetric: true, scaleCount: 2 }))).toThrow(
      /scaleCount is 2 but its shape and granularity need 1/,
    );
    // derive: the encoder asks for the scale count instead of stating it.
    expect(packedLayout(spec([10, 3], { granularity: 'per-tensor', symmetric: true }), true).scaleCount).toBe(1);
  });

  it('readInt reads b bits at i·b, least significant first, sign-extended when asked', () => {
    const ints = new Uint8Array([0b1111_0111, 0b0000_1000]); // int4: 7, -1 (15), -8 (8), 0
    expect([0, 1, 2, 3].map((i) => readInt(ints, i, 4, true))).toEqual([7, -1, -8, 0]);
    expect([0, 1, 2, 3].map((i) => readInt(ints, i, 4, false))).toEqual([7, 15, 8, 0]);
    expect(readInt(new Uint8Array([0b10_01_11_00]), 2, 2, true)).toBe(1);
  });
});
