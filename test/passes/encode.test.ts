/**
 * The encode pass (entropy coding): lossless round trips for every symbol source (codebooks, packed ints,
 * sparse and dense layouts, long zero runs), sizes close to the symbols' empirical entropy, refusal of
 * corrupted encodings, and a recipe prune → cluster → encode whose output predicts exactly as before encode,
 * in mcbuild and through mcbuild/runtime in another process, while stock TF.js refuses it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { entropyEncode } from '../../src/engine/entropy.js';
import { readModelDir, type StoredModel, type WeightSpec, decodeWeights } from '../../src/model/index.js';
import { packWeight } from '../../src/engine/packed.js';
import type { PassContext } from '../../src/passes/index.js';
import { encode } from '../../src/passes/encode/index.js';
import { decodeStored, storedByteLength, unpackWeights } from '../../src/runtime/decode.js';
import { mulberry32 } from '../../src/util/random.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const ctx = { progress: () => {} } as unknown as PassContext;
const place = { path: ['passes', 0, 'encode'], at: (o?: string) => `r.yaml:3:${o ?? ''}` };

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

/** Empirical zero-order entropy in bits of all symbols. */
function entropyBits(symbols: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < symbols.length; i++) counts.set(symbols[i]!, (counts.get(symbols[i]!) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= c * Math.log2(c / symbols.length);
  return h;
}

const f32spec = (name: string, shape: number[]): WeightSpec => ({ name, shape, dtype: 'float32' });
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

function roundTrip(spec: WeightSpec, stored: Uint8Array, values: Float32Array) {
  const r = entropyEncode(spec, stored, values, 9);
  if (!r.encoded) throw new Error(r.reason);
  expect(storedByteLength(r.spec)).toBe(r.bytes.byteLength);
  const back = decodeStored(r.spec, r.bytes);
  expect(Array.from(back)).toEqual(Array.from(values, (v) => (Object.is(v, -0) ? 0 : v)));
  return r;
}

describe('entropy coding of one weight', () => {
  it('a sparse codebook weight round-trips exactly and takes the sparse layout', () => {
    const book = [-0.3, -0.1, 0.05, 0.2];
    const v = drawn(20_000, [0, ...book], [0.9, 0.03, 0.03, 0.02, 0.02], 1);
    const r = roundTrip(f32spec('fc/kernel', [100, 200]), bytesOf(v), v);
    expect(r.layout).toBe('sparse');
    expect(r.spec.quantization).toMatchObject({
      dtype: 'codebook',
      codebookSize: 5,
      encoding: { method: 'deflate', layout: 'sparse' },
    });
  });

  it('a dense codebook weight takes the dense layout; −0 is stored as +0', () => {
    const v = drawn(4096, [-1, -0.5, 0.25, 2], [0.4, 0.3, 0.2, 0.1], 2);
    v[7] = -0;
    v[8] = 0;
    const r = roundTrip(f32spec('d/kernel', [64, 64]), bytesOf(v), v);
    expect(r.layout).toBe('dense');
    expect(Object.is(decodeStored(r.spec, r.bytes)[7], 0)).toBe(true);
  });

  it('zero runs longer than one gap byte (bridged by stored zeros, test/algorithms/entropy.test.ts) survive exactly', () => {
    const v = new Float32Array(5000);
    v[0] = 1;
    v[300] = 2; // a gap of 299 zeros: one filler (255 skipped + a stored zero), then 43 more
    v[4999] = 3; // 4698 zeros: many fillers
    expect(roundTrip(f32spec('s/kernel', [5000]), bytesOf(v), v).layout).toBe('sparse');
  });

  it('packed int8 per-channel, int4 asymmetric per-group and int2 keep their scales and round-trip exactly', () => {
    // Laplacian values, as trained kernels have: most integers near 0, so fewer bits than the fixed width.
    const r = mulberry32(3);
    const values = Float32Array.from({ length: 256 * 48 }, () => (r() < 0.5 ? -1 : 1) * Math.log(1 / (1 - r())) * 0.05);
    for (const o of [
      { dtype: 'int8', granularity: 'per-channel', symmetric: true },
      { dtype: 'int4', granularity: 'per-group', groupSize: 64, symmetric: false },
      { dtype: 'int2', granularity: 'per-tensor', symmetric: true },
    ] as const) {
      const p = packWeight('q/kernel', [256, 48], values, { ...o, axis: 1, clip: 'none' });
      const spec: WeightSpec = { name: 'q/kernel', shape: [256, 48], dtype: 'float32', quantization: p.quantization };
      const enc = roundTrip(spec, p.bytes, p.decoded);
      expect(enc.spec.quantization).toMatchObject({
        dtype: o.dtype,
        granularity: o.granularity,
        scaleCount: p.quantization.scaleCount,
      });
      expect(enc.bytes.byteLength).toBeLessThan(p.bytes.byteLength);
    }
  });

  it('codes symbols close to their empirical entropy (within 3% + 64 bytes)', () => {
    // Skewed 16-symbol distribution: ~3.3 bits of entropy in a 4-bit alphabet; int8 storage would be 8 bits.
    const p = Array.from({ length: 16 }, (_, k) => 2 ** -(k + 1));
    p[15] = p[14]!;
    const v = drawn(
      50_000,
      Array.from({ length: 16 }, (_, k) => k + 1),
      p,
      4,
    );
    const r = roundTrip(f32spec('e/kernel', [50_000]), bytesOf(v), v);
    const ideal = (entropyBits(v) + 16 * 32) / 8; // + the codebook
    expect(r.bytes.byteLength).toBeLessThan(ideal * 1.03 + 64);
    expect(r.bytes.byteLength).toBeGreaterThanOrEqual(Math.floor(entropyBits(v) / 8)); // no code beats the entropy
  });

  it('leaves weights with more than 256 distinct values, or that would grow, as they are', () => {
    const many = Float32Array.from({ length: 1000 }, (_, i) => i / 7);
    expect(entropyEncode(f32spec('m/kernel', [1000]), bytesOf(many), many, 9)).toEqual({
      encoded: false,
      reason: expect.stringMatching(/more than 256 distinct values/),
    });
    const tiny = Float32Array.from([0.5, -0.25, 1]);
    expect(entropyEncode(f32spec('t/bias', [3]), bytesOf(tiny), tiny, 9)).toEqual({
      encoded: false,
      reason: expect.stringMatching(/would not shrink it \(12 → \d+ bytes\)/),
    });
  });
});

describe('corrupted encodings are refused', () => {
  const v = drawn(3000, [0, 0.5, -0.5], [0.8, 0.1, 0.1], 5);
  const enc = entropyEncode(f32spec('fc/kernel', [3000]), bytesOf(v), v, 9);
  if (!enc.encoded) throw new Error('not encoded');

  it('a flipped byte fails the checksum', () => {
    const bad = Uint8Array.from(enc.bytes);
    bad[bad.length - 2]! ^= 1;
    expect(() => decodeStored(enc.spec, bad)).toThrow(/weight fc\/kernel: checksum mismatch/);
  });

  it('a manifest whose entry count disagrees with the stream, or a wrong length, is refused', () => {
    const q = enc.spec.quantization as unknown as { encoding: { entries: number } };
    const spec = {
      ...enc.spec,
      quantization: { ...q, encoding: { ...q.encoding, entries: q.encoding.entries + 1 } },
    } as WeightSpec;
    expect(() => decodeStored(spec, enc.bytes)).toThrow(
      /weight fc\/kernel: its (gap|symbol) stream holds \d+ symbols, the manifest says \d+/,
    );
    expect(() => unpackWeights([enc.spec], enc.bytes.subarray(1))).toThrow(/hold \d+ bytes but the weights need \d+/);
  });

  it('an unknown method or layout is refused by name', () => {
    const q = enc.spec.quantization as unknown as { encoding: object };
    const spec = {
      ...enc.spec,
      quantization: { ...q, encoding: { ...q.encoding, method: 'zstd' } },
    } as unknown as WeightSpec;
    expect(() => decodeStored(spec, enc.bytes)).toThrow(/unknown quantization\.encoding\.method zstd/);
  });
});

describe('encode options', () => {
  it('defaults to level 9 and refuses a level outside 1..9, pointing at it', () => {
    expect(encode.resolveOptions({}, place)).toEqual({ level: 9 });
    expect(() => encode.resolveOptions({ level: 0 }, place)).toThrow(
      /`passes\[0\]\.encode\.level` is 0 at r\.yaml:3:level; the DEFLATE level is a whole number from 1/,
    );
  });
});

describe('prune → cluster → encode in a recipe', () => {
  it('is lossless: same predictions as before encode, in mcbuild and through mcbuild/runtime; much smaller', async () => {
    const dir = tempDir();
    const passes = '  - prune: { sparsity: 0.9 }\n  - cluster: { bits: 4 }\n  - encode: {}';
    const cacheDir = join(dir, 'c');
    const before = await build(
      writeText(
        join(dir, 'a.yaml'),
        tinyRecipe({ passes: '  - prune: { sparsity: 0.9 }\n  - cluster: { bits: 4 }', output: './a' }),
      ),
      { cacheDir, backend: 'wasm' },
    );
    const after = await build(writeText(join(dir, 'b.yaml'), tinyRecipe({ passes, output: './b' })), {
      cacheDir,
      backend: 'wasm',
    });
    // Only encode and its evaluation ran for the second recipe: the rest came from the cache.
    expect(after.execution.ran).toEqual(['pass-3-encode', 'eval-result']);
    const [mb, ma] = [before.report.metrics, after.report.metrics];
    expect(ma.result.correct).toBe(mb.result.correct);
    // Entropy coding beats gzip of the clustered float32 shard by far.
    const shard = (m: unknown) => (m as { files: { name: string; bytes: number; gzip: number }[] }).files[1]!;
    expect(shard(ma.result).bytes).toBeLessThan(shard(mb.result).gzip * 0.7);

    const a = (await readModelDir(join(dir, 'a', 'model.json'))).model;
    const b = (await readModelDir(join(dir, 'b', 'model.json'))).model;
    const [wa, wb] = [decodeWeights(a), decodeWeights(b)];
    for (const [i, w] of wa.entries())
      expect(Array.from(wb[i]!.values)).toEqual(Array.from(w.values, (x) => (Object.is(x, -0) ? 0 : x)));
    const kernels = b.weightSpecs.filter((s) => s.name.endsWith('kernel'));
    expect(kernels.map((k) => (k.quantization as { dtype?: string } | undefined)?.dtype)).toEqual([
      'codebook',
      'codebook',
    ]);

    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const load = (how: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [join(ROOT, 'test/load-model.mjs'), join(dir, 'b'), how, 'layers', inputs, '300', '28,28,1'],
          { cwd: ROOT },
        ).toString(),
      );
    const loaded = load('loader');
    expect(loaded.error).toBeUndefined();
    expect(loaded.classes.filter((c: number, i: number) => c === test.y[i]).length).toBe(ma.result.correct);
    expect(load('stock').error).toMatch(/unknown quantization dtype codebook/);
    const report = JSON.parse(readFileSync(join(dir, 'b', 'report.json'), 'utf8'));
    const stats = report.passes.find((p: { id: string }) => p.id === 'pass-3-encode').stats;
    expect(stats.weightsEncoded).toBe(2);
    expect(stats.encoded[0]).toMatchObject({ name: 'fc_1/kernel', layout: 'sparse', symbols: 17 });
  });

  it('a later weight pass decodes an encoded model back (encode is not a dead end)', async () => {
    const v = drawn(1000, [0, 1, 2], [0.5, 0.25, 0.25], 6);
    const model: StoredModel = {
      json: { format: 'layers-model', modelTopology: {} },
      weightSpecs: [f32spec('fc/kernel', [1000])],
      weightData: Uint8Array.from(bytesOf(v)),
    };
    const out = (await encode.apply(model, { level: 9 }, ctx)).model;
    expect(out.weightData.byteLength).toBeLessThan(1000);
    expect(Array.from(decodeWeights(out)[0]!.values)).toEqual(Array.from(v));
  });
});
