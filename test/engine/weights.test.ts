/**
 * The fast paths of the weight passes that need no TF.js: decoding as views, encoding into one buffer,
 * float16 and rounding helpers, the packed encoder's error sink and in-place writing, and the packed decoder
 * against a per-element reference.
 */
import { describe, expect, it } from 'vitest';
import {
  type StoredModel,
  alignedView,
  decodeWeights,
  encodeWeights,
  float16Table,
  float16ToFloat32,
  float32BitsToFloat16,
  float32ToFloat16,
} from '../../src/model/index.js';
import { packWeight, packedSize, roundHalfUp, type PackOptions } from '../../src/engine/packed.js';
import {
  checksum,
  decodePacked,
  packedLayout,
  readInt,
  scaleIndex,
  type ManifestEntry,
  type PackedQuantization,
} from '../../src/runtime/decode.js';
import { mulberry32 } from '../../src/util/random.js';

function bytesOf(parts: ArrayBufferView[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += p.byteLength;
  }
  return out;
}

/** float32 [2, 3], a 3-byte bool (so what follows is misaligned), float32 [5], int32 [2]. */
function mixedModel(): StoredModel {
  const a = Float32Array.from([1, -2, 3.5, 0, -0, 7]);
  const flag = Uint8Array.from([1, 0, 1]);
  const b = Float32Array.from([0.25, -1, 2, 3, 4]);
  const n = Int32Array.from([5, -6]);
  return {
    json: {},
    weightSpecs: [
      { name: 'a', shape: [2, 3], dtype: 'float32' },
      { name: 'flag', shape: [3], dtype: 'bool' },
      { name: 'b', shape: [5], dtype: 'float32' },
      { name: 'n', shape: [2], dtype: 'int32' },
    ],
    weightData: bytesOf([a, flag, b, n]),
  };
}

/** Values with the edge cases of rounding and scaling: ±0, ties, NaN, ±Infinity, subnormals. */
function edgyValues(n: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const special = [Number.NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 0.5, -0.5, 65504, 70000];
  return Float32Array.from({ length: n }, (_, i) =>
    random() < 0.08 ? special[i % special.length]! : (random() * 2 - 1 + 0.2) * (1 + (i % 5)),
  );
}

describe('decodeWeights', () => {
  it('copies by default: writing the values leaves the model alone', () => {
    const model = mixedModel();
    const before = model.weightData.slice();
    const decoded = decodeWeights(model);
    expect(Array.from(decoded[0]!.values)).toEqual([1, -2, 3.5, 0, -0, 7]);
    expect(Array.from(decoded[2]!.values)).toEqual([0.25, -1, 2, 3, 4]);
    expect(Array.from(decoded[3]!.values)).toEqual([5, -6]);
    for (const w of decoded) w.values.fill(9);
    expect(model.weightData).toEqual(before);
  });

  it('with share, aligned float32 and int32 values are views of the model bytes, misaligned ones copies', () => {
    const model = mixedModel();
    const plain = decodeWeights(model);
    const shared = decodeWeights(model, { share: true });
    expect(shared.map((w) => Array.from(w.values))).toEqual(plain.map((w) => Array.from(w.values)));
    expect(shared[0]!.values.buffer).toBe(model.weightData.buffer);
    expect(shared[2]!.values.buffer).not.toBe(model.weightData.buffer); // at byte 27: not aligned
    expect(shared[3]!.values.buffer).not.toBe(model.weightData.buffer); // at byte 47
    // The same bytes at an aligned offset of a larger buffer are viewed, not copied.
    const big = new Uint8Array(model.weightData.byteLength + 8);
    big.set(model.weightData, 4);
    const offset = decodeWeights(
      { ...model, weightData: big.subarray(4, 4 + model.weightData.byteLength) },
      { share: true },
    );
    expect(offset[0]!.values.buffer).toBe(big.buffer);
    expect(offset.map((w) => Array.from(w.values))).toEqual(plain.map((w) => Array.from(w.values)));
  });
});

describe('encodeWeights', () => {
  it('writes kept, replaced and written weights at their places; writers may sit at any offset; prepare sees the buffer first', () => {
    const model = mixedModel();
    const weights = decodeWeights(model);
    const order: string[] = [];
    const out = encodeWeights(
      model.json,
      weights,
      (w) => {
        if (w.spec.name === 'a') return { spec: { ...w.spec, name: 'a2' }, bytes: Uint8Array.from([1, 2, 3]) };
        if (w.spec.name !== 'b') return undefined;
        return {
          byteLength: 10,
          write: (into) => {
            order.push('write');
            expect(into.byteOffset % 2).toBe(0 + ((3 + 3) % 2)); // after 3 + 3 bytes: even
            const { view, flush } = alignedView(into, Float32Array, 2);
            view.set([1.5, -2.5]);
            flush();
            into[8] = 7;
            into[9] = 8;
            return { ...w.spec, shape: [10], dtype: 'bool' };
          },
        };
      },
      (buffer) => {
        order.push('prepare');
        expect(buffer.byteLength).toBe(3 + 3 + 10 + 8);
        buffer.fill(0xee); // scratch use: every byte is written afterwards
      },
    );
    expect(order).toEqual(['prepare', 'write']);
    expect(out.weightSpecs.map((s) => s.name)).toEqual(['a2', 'flag', 'b', 'n']);
    expect(Array.from(out.weightData.subarray(0, 6))).toEqual([1, 2, 3, 1, 0, 1]);
    expect(Array.from(new Float32Array(out.weightData.slice(6, 14).buffer))).toEqual([1.5, -2.5]);
    expect(Array.from(out.weightData.subarray(14, 16))).toEqual([7, 8]);
    expect(Array.from(new Int32Array(out.weightData.slice(16).buffer))).toEqual([5, -6]);
  });

  it('alignedView hands out a view when aligned and writes a copy back otherwise', () => {
    const buf = new Uint8Array(16);
    const aligned = alignedView(buf.subarray(4, 12), Float32Array, 2);
    expect(aligned.view.buffer).toBe(buf.buffer);
    const odd = alignedView(buf.subarray(1, 9), Float32Array, 2);
    expect(odd.view.buffer).not.toBe(buf.buffer);
    odd.view.set([1, 2]);
    odd.flush();
    expect(Array.from(new Float32Array(buf.slice(1, 9).buffer))).toEqual([1, 2]);
  });
});

describe('float16 and rounding helpers', () => {
  it('float32BitsToFloat16 is float32ToFloat16 of the bit pattern; the table is float16ToFloat32', () => {
    const random = mulberry32(4);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const wrong: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      u[0] = (random() * 2 ** 32) >>> 0;
      if (!Number.isNaN(f[0]) && float32BitsToFloat16(u[0]) !== float32ToFloat16(f[0]!)) wrong.push(u[0]);
    }
    expect(wrong).toEqual([]);
    const table = float16Table();
    for (let h = 0; h < 65536; h++) if (!Object.is(table[h], Math.fround(float16ToFloat32(h)))) wrong.push(h);
    expect(wrong).toEqual([]);
  });

  it('roundHalfUp is Math.round (ties up) for |t| < 2^52, NaN and ±Infinity, up to the sign of zero', () => {
    const f = new Float64Array(1);
    const b = new BigInt64Array(f.buffer);
    const next = (x: number, d: number) => {
      f[0] = x;
      b[0]! += BigInt(d);
      return f[0];
    };
    const random = mulberry32(6);
    const cases = [
      0.49999999999999994,
      0.5,
      -0.5,
      1.5,
      -1.5,
      2.5,
      -2.5,
      4503599627370495.5,
      -4503599627370495.5,
      Number.NaN,
      Infinity,
      -Infinity,
      0,
      -0,
      1e-300,
    ];
    for (let i = 0; i < 20_000; i++) {
      const k = Math.floor((random() - 0.5) * 2 ** Math.floor(random() * 50));
      for (let d = -2; d <= 2; d++) cases.push(next(k + 0.5, d), next(k, d), next(-k - 0.5, d));
      cases.push((random() - 0.5) * 2 ** (random() * 100 - 50));
    }
    const wrong = cases.filter((t) => {
      const expected = Math.round(t);
      return expected === 0 ? roundHalfUp(t) !== 0 : !Object.is(roundHalfUp(t), expected);
    });
    expect(wrong).toEqual([]);
  });
});

/** The packed decoder as the format describes it: element by element through scaleIndex and readInt. */
function referenceDecode(spec: ManifestEntry, bytes: Uint8Array): Float32Array {
  const l = packedLayout(spec);
  const q = spec.quantization as unknown as PackedQuantization;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ints = bytes.subarray(l.scaleBytes);
  const out = new Float32Array(l.n);
  for (let i = 0; i < l.n; i++) {
    const s = scaleIndex(l, i);
    const k = readInt(ints, i, l.bits, q.symmetric);
    const scale = view.getFloat32(4 * s, true);
    out[i] = q.symmetric ? k * scale : k * scale + view.getFloat32(4 * (l.scaleCount + s), true);
  }
  return out;
}

const packCases: [number[], number][] = [
  [[24, 5], 1],
  [[3, 3, 4, 6], 3],
  [[3, 3, 4, 2], 2],
  [[7, 11, 3], 2],
  [[5, 1], 1],
  [[33, 1], 0],
];

describe('packWeight', () => {
  for (const dtype of ['int8', 'int4', 'int2'] as const) {
    it(`${dtype}: the error sink is what the decoder's output gives, writing in place gives the same bytes, decode matches the reference`, () => {
      let seed = 10;
      for (const [shape, axis] of packCases) {
        for (const granularity of ['per-tensor', 'per-channel', 'per-group'] as const) {
          for (const symmetric of [true, false]) {
            for (const clip of ['none', 'mse'] as const) {
              const n = shape.reduce((a, b) => a * b, 1);
              const values = edgyValues(n, seed++);
              const o: PackOptions = { dtype, granularity, axis, groupSize: 3, symmetric, clip };
              const errors = { maxAbs: 0.001, sumSq: 2 };
              const p = packWeight('l/kernel', shape, values, o, { errors });
              const spec = { name: 'l/kernel', shape, dtype: 'float32', quantization: p.quantization };
              expect(p.bytes.byteLength).toBe(packedSize('l/kernel', shape, o));
              expect(p.quantization.checksum).toBe(checksum(p.bytes));
              // The sink, element by element from the given start, as the quantize pass sums it.
              const decoded = decodePacked(spec, p.bytes);
              let maxAbs = 0.001;
              let sumSq = 2;
              for (let i = 0; i < n; i++) {
                const e = Math.abs(values[i]! - decoded[i]!);
                if (e > maxAbs) maxAbs = e;
                sumSq += e * e;
              }
              expect(Object.is(errors.maxAbs, maxAbs)).toBe(true);
              expect(Object.is(errors.sumSq, sumSq)).toBe(true);
              expect(p.decoded).toEqual(decoded);
              expect(new Uint8Array(decoded.buffer)).toEqual(new Uint8Array(referenceDecode(spec, p.bytes).buffer));
              // Each element's scale, per the layout.
              const l = packedLayout(spec);
              const view = new DataView(p.bytes.buffer, p.bytes.byteOffset);
              for (let i = 0; i < n; i++) expect(p.scales[i]).toBe(view.getFloat32(4 * scaleIndex(l, i), true));
              // Into a dirty buffer at an odd offset: every byte written, the same bytes.
              const into = new Uint8Array(p.bytes.byteLength + 3).fill(0xa5);
              const q = packWeight('l/kernel', shape, values, o, { into: into.subarray(1, 1 + p.bytes.byteLength) });
              expect(into.subarray(1, 1 + p.bytes.byteLength)).toEqual(p.bytes);
              expect(q.quantization).toEqual(p.quantization);
              expect([into[0], into[into.length - 2], into[into.length - 1]]).toEqual([0xa5, 0xa5, 0xa5]);
            }
          }
        }
      }
    });
  }

  it('decodePacked matches the reference on random bytes of every layout', () => {
    const random = mulberry32(12);
    for (const [shape, axis] of packCases) {
      for (const dtype of ['int8', 'int4', 'int2'] as const) {
        for (const granularity of ['per-tensor', 'per-channel', 'per-group'] as const) {
          for (const symmetric of [true, false]) {
            const quantization = {
              dtype,
              granularity,
              ...(granularity === 'per-tensor' ? {} : { axis }),
              ...(granularity === 'per-group' ? { groupSize: 4 } : {}),
              symmetric,
              scaleCount: 0,
              checksum: '',
            };
            const spec: ManifestEntry = { name: 'w', shape, dtype: 'float32', quantization };
            const l = packedLayout(spec, true);
            quantization.scaleCount = l.scaleCount;
            const bytes = Uint8Array.from({ length: l.byteLength }, () => Math.floor(random() * 256));
            const scales = new DataView(bytes.buffer);
            for (let s = 0; s < l.scaleCount * (symmetric ? 1 : 2); s++)
              scales.setFloat32(4 * s, (random() - 0.3) * 10, true);
            quantization.checksum = checksum(bytes);
            expect(new Uint8Array(decodePacked(spec, bytes).buffer)).toEqual(
              new Uint8Array(referenceDecode(spec, bytes).buffer),
            );
          }
        }
      }
    }
  });
});
