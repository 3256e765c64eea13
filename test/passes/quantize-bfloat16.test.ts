/**
 * quantize dtype bfloat16: round-to-nearest-even on the upper 16 bits of each float32, relative error bound,
 * special values, checksums, and a build whose output mcbuild/runtime loads in another process with exactly
 * the predictions mcbuild measured (stock TF.js refuses it).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { readModelDir, type StoredModel, decodeWeights } from '../../src/model/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { quantize } from '../../src/passes/quantize/index.js';
import { decodeStored } from '../../src/runtime/decode.js';
import { mulberry32 } from '../../src/util/random.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const ctx = {} as PassContext;
const place = { path: ['passes', 0, 'quantize'], at: (o?: string) => `r.yaml:1:${o ?? ''}` };

async function bf16(values: number[]): Promise<{ out: Float32Array; model: StoredModel }> {
  const v = Float32Array.from(values);
  const model: StoredModel = {
    json: { format: 'layers-model', modelTopology: {} },
    weightSpecs: [{ name: 'd/kernel', shape: [v.length], dtype: 'float32' }],
    weightData: new Uint8Array(v.buffer),
  };
  const out = (await quantize.apply(model, quantize.resolveOptions({ dtype: 'bfloat16' }, place), ctx)).model;
  return { out: decodeWeights(out)[0]!.values as Float32Array, model: out };
}

describe('bfloat16', () => {
  it('rounds to nearest, ties to even, and keeps ±0, ±Infinity and NaN', async () => {
    const ulp = 2 ** -7; // bfloat16 spacing in [1, 2)
    const { out } = await bf16([
      1,
      1 + ulp / 2,
      1 + (3 * ulp) / 2,
      1 + ulp / 2 + 2 ** -20,
      -0,
      Infinity,
      -Infinity,
      NaN,
      3.38e38,
      3.4e38,
    ]);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(1); // tie → even (1.0)
    expect(out[2]).toBe(1 + 2 * ulp); // tie → even (1 + 2 ulp)
    expect(out[3]).toBe(1 + ulp); // just above the tie → up
    expect(Object.is(out[4], -0)).toBe(true);
    expect(out[5]).toBe(Infinity);
    expect(out[6]).toBe(-Infinity);
    expect(Number.isNaN(out[7])).toBe(true);
    expect(out[8]).toBeCloseTo(3.38e38, -36); // below bfloat16's largest finite value (3.3895e38)
    expect(out[9]).toBe(Infinity); // above it: overflows, as float16 does
  });

  it('relative error ≤ 2^-8 (half a unit in the last of 8 significant bits) for normal values; half the bytes; a checksum per weight', async () => {
    const r = mulberry32(11);
    const values = Array.from({ length: 5000 }, () => (r() - 0.5) * 10 ** (r() * 6 - 3));
    const { out, model } = await bf16(values);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs(out[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -8 * (1 + 1e-12));
    expect(model.weightData.byteLength).toBe(2 * values.length);
    const spec = model.weightSpecs[0]!;
    expect(spec.quantization).toEqual({
      dtype: 'bfloat16',
      checksum: expect.stringMatching(/^crc32:[0-9a-f]{8}$/),
      original_dtype: 'float32',
    });
    const bad = Uint8Array.from(model.weightData);
    bad[10]! ^= 1;
    expect(() => decodeStored(spec, bad)).toThrow(/weight d\/kernel: checksum mismatch/);
  });

  it('refuses options that do not apply, pointing at them', () => {
    expect(() => quantize.resolveOptions({ dtype: 'bfloat16', granularity: 'per-channel' }, place)).toThrow(
      /granularity per-channel with dtype bfloat16.*r\.yaml:1:granularity/,
    );
    expect(() => quantize.resolveOptions({ dtype: 'bfloat16', symmetric: false }, place)).toThrow(
      /dtype bfloat16, which has no range/,
    );
  });

  it('a bfloat16 build loads through mcbuild/runtime with the predictions mcbuild measured; stock TF.js refuses it', async () => {
    const dir = tempDir();
    const result = await build(
      writeText(join(dir, 'bf.yaml'), tinyRecipe({ passes: '  - quantize: { dtype: bfloat16 }', output: './out' })),
      { cacheDir: join(dir, 'c'), backend: 'wasm' },
    );
    const m = result.report.metrics as unknown as Record<'baseline' | 'result', { correct: number; count: number }>;
    expect(Math.abs(m.result.correct - m.baseline.correct)).toBeLessThanOrEqual(2);
    const { model } = await readModelDir(join(dir, 'out', 'model.json'));
    expect(
      model.weightSpecs.every((s) => (s.quantization as { dtype?: string } | undefined)?.dtype === 'bfloat16'),
    ).toBe(true);
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const load = (how: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [join(ROOT, 'test/load-model.mjs'), join(dir, 'out'), how, 'layers', inputs, '300', '28,28,1'],
          { cwd: ROOT },
        ).toString(),
      );
    const loaded = load('loader');
    expect(loaded.error).toBeUndefined();
    expect(loaded.classes.filter((c: number, i: number) => c === test.y[i]).length).toBe(m.result.correct);
    expect(load('stock').error).toMatch(/unknown quantization dtype bfloat16/);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')).passes[0].stats.weightsQuantized).toBe(4);
  });
});
