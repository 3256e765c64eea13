/**
 * The fixture builder of test/fixtures/models: weights written as tensorflowjs_converter writes them (checked by
 * decoding them with TF.js's own decodeWeights), seeded draws, and the on-disk cache.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';
import { converterWeights, toFloat16 } from './fixtures/models/converter-weights.js';
import { drawWeight } from './fixtures/models/draw.js';
import { embeddingGraph } from './fixtures/models/index.js';

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

async function decoded(out: ReturnType<typeof converterWeights>): Promise<Record<string, number[]>> {
  const [group] = out.manifest;
  const bytes = Buffer.concat(group.paths.map((p) => out.files.get(p)!));
  const tensors = tf.io.decodeWeights(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    group.weights as tf.io.WeightsManifestEntry[],
  );
  const values: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(tensors)) values[name] = Array.from(await t.data());
  tf.dispose(Object.values(tensors));
  return values;
}

describe('converter weights', () => {
  const weights = [
    { name: 'k', shape: [2, 3], dtype: 'float32' as const, bytes: f32([-1, 0, 0.5, 3, 0.25, -0.75]) },
    { name: 'shape', shape: [2], dtype: 'int32' as const, bytes: new Uint8Array(new Int32Array([-1, 7]).buffer) },
    { name: 'b', shape: [3], dtype: 'float32' as const, bytes: f32([0.1, 0.2, 0.3]) },
  ];

  it('uint8: range nudged so 0 is exact, int32 kept, TF.js decodes within a step', async () => {
    const out = converterWeights(weights, 'uint8');
    const [k, shape, b] = out.manifest[0].weights;
    expect(k!.quantization).toEqual({ dtype: 'uint8', min: expect.any(Number), scale: 4 / 255 });
    expect(shape).toEqual({ name: 'shape', shape: [2], dtype: 'int32' });
    // All positive: no nudging, min is the data's own.
    expect(b!.quantization).toEqual({
      dtype: 'uint8',
      min: Math.fround(0.1),
      scale: (Math.fround(0.3) - Math.fround(0.1)) / 255,
    });
    const v = await decoded(out);
    expect(v.k![1]).toBe(0);
    v.k!.forEach((x, i) => expect(Math.abs(x - [-1, 0, 0.5, 3, 0.25, -0.75][i]!)).toBeLessThanOrEqual(2 / 255 + 1e-6));
    expect(v.shape).toEqual([-1, 7]);
    expect(out.files.get('group1-shard1of1.bin')!.byteLength).toBe(6 + 8 + 3);
  });

  it('float16 rounds to nearest even as numpy does, and TF.js reads it back', async () => {
    // Expected: numpy's np.float32([...]).astype(np.float16).view(np.uint16).
    expect(Array.from(toFloat16(new Float32Array([1, -2, 0.1, 65504, 1e6, 1e-8, 6e-5, 2 ** -24])))).toEqual([
      0x3c00, 0xc000, 0x2e66, 0x7bff, 0x7c00, 0, 0x03ef, 0x0001,
    ]);
    const out = converterWeights(weights, 'float16');
    expect(out.manifest[0].weights[0]!.quantization).toEqual({ dtype: 'float16' });
    const v = await decoded(out);
    expect(v.b![0]).toBeCloseTo(0.1, 3);
  });

  it('cuts the group into shards of the given size, named as the converter names them', () => {
    const out = converterWeights(weights, 'none', 16);
    expect(out.manifest[0].paths).toEqual(['group1-shard1of3.bin', 'group1-shard2of3.bin', 'group1-shard3of3.bin']);
    expect([...out.files.values()].map((b) => b.byteLength)).toEqual([16, 16, 12]);
  });
});

describe('seeded draws', () => {
  it('are deterministic per seed and have the role’s scale', () => {
    const spec = { name: 'conv/kernel', shape: [3, 3, 64, 128], dtype: 'float32' as const };
    const he = { ...spec, init: { kind: 'he' as const, fanIn: 576 } };
    const a = drawWeight(he, 7);
    expect(Buffer.compare(a, drawWeight(he, 7))).toBe(0);
    expect(Buffer.compare(a, drawWeight(he, 8))).not.toBe(0);
    const v = new Float32Array(a.buffer, a.byteOffset, a.byteLength / 4);
    const std = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    // A normal truncated at 2σ keeps 0.88 of its standard deviation.
    expect(std / Math.sqrt(2 / 576)).toBeGreaterThan(0.85);
    expect(std / Math.sqrt(2 / 576)).toBeLessThan(0.9);
    const variance = new Float32Array(drawWeight({ ...spec, shape: [1000], init: { kind: 'variance' } }, 1).buffer);
    expect(Math.min(...variance)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...variance)).toBeLessThan(1.5);
  });

  it('keep stored values exactly', () => {
    const value = Buffer.from(new Int32Array([1, 24, 24, 3]).buffer).toString('base64');
    const bytes = drawWeight({ name: 's', shape: [4], dtype: 'int32', value }, 1);
    expect(Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, 4))).toEqual([1, 24, 24, 3]);
  });
});

describe('the fixture cache', () => {
  const saved = process.env.MCBUILD_FIXTURE_CACHE;
  afterEach(() => {
    if (saved === undefined) delete process.env.MCBUILD_FIXTURE_CACHE;
    else process.env.MCBUILD_FIXTURE_CACHE = saved;
  });

  it('builds once, finds the folder again, and the same seed gives the same bytes anywhere', async () => {
    process.env.MCBUILD_FIXTURE_CACHE = tempDir('mcbuild-fixtures-');
    const first = await embeddingGraph({ seed: 3 });
    const shard = join(first.dir, 'group1-shard1of1.bin');
    const built = statSync(shard).mtimeMs;
    const again = await embeddingGraph({ seed: 3 });
    expect(again.dir).toBe(first.dir);
    expect(statSync(shard).mtimeMs).toBe(built);
    const other = await embeddingGraph({ seed: 4 });
    expect(other.dir).not.toBe(first.dir);
    expect(Buffer.compare(readFileSync(shard), readFileSync(join(other.dir, 'group1-shard1of1.bin')))).not.toBe(0);

    process.env.MCBUILD_FIXTURE_CACHE = tempDir('mcbuild-fixtures-');
    const elsewhere = await embeddingGraph({ seed: 3 });
    expect(elsewhere.dir).not.toBe(first.dir);
    expect(readFileSync(join(elsewhere.dir, 'group1-shard1of1.bin')).equals(readFileSync(shard))).toBe(true);
    expect(readFileSync(elsewhere.modelJson, 'utf8')).toBe(readFileSync(first.modelJson, 'utf8'));
  });
});
