import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesToModel, modelToFiles, readModelDir, type StoredModel } from '../../src/engine/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/engine/weights.js';
import { tempDir } from '../helpers.js';

const model = (bytes: number): StoredModel => ({
  json: { format: 'layers-model', modelTopology: { class_name: 'Sequential' } },
  weightSpecs: [{ name: 'w', shape: [bytes / 4], dtype: 'float32' }],
  weightData: new Uint8Array(bytes).map((_, i) => (i * 7) % 256),
});

function writeModelDir(files: Map<string, Uint8Array>): string {
  const dir = tempDir();
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
  return join(dir, 'model.json');
}

describe('model files', () => {
  it('shards by size and reads back the same model', async () => {
    const m = model(10_000);
    const files = modelToFiles(m, 4096);
    expect([...files.keys()]).toEqual(['model.json', 'group1-shard1of3.bin', 'group1-shard2of3.bin', 'group1-shard3of3.bin']);
    expect(filesToModel(files)).toEqual(m);
    const { model: read, digest } = await readModelDir(writeModelDir(files));
    expect(read).toEqual(m);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects shard paths that leave the model folder', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }));
    await expect(readModelDir(join(dir, 'model.json'))).rejects.toThrow(/points outside the model's folder/);
  });

  it('rejects JSON that is not an object, and unsupported dtypes', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'model.json'), '[1,2]');
    await expect(readModelDir(join(dir, 'model.json'))).rejects.toThrow(/is not a TF\.js model\.json: it is not a JSON object/);
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: [], weights: [{ name: 's', shape: [1], dtype: 'string' }] }] }));
    await expect(readModelDir(join(dir, 'model.json'))).rejects.toThrow(/dtype string, which mcbuild cannot read/);
  });
});

describe('float16', () => {
  it('converts exactly representable values exactly', () => {
    for (const v of [0, 1, -2, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, 1 + 2 ** -10]) {
      expect(float16ToFloat32(float32ToFloat16(v))).toBe(v);
    }
  });

  it('rounds to nearest even, overflows to infinity, underflows to zero', () => {
    expect(float16ToFloat32(float32ToFloat16(1 + 2 ** -11))).toBe(1); // tie → even mantissa
    expect(float16ToFloat32(float32ToFloat16(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie → even, upward
    expect(float16ToFloat32(float32ToFloat16(70000))).toBe(Number.POSITIVE_INFINITY);
    expect(float16ToFloat32(float32ToFloat16(2 ** -26))).toBe(0);
    expect(Number.isNaN(float16ToFloat32(float32ToFloat16(Number.NaN)))).toBe(true);
  });

  it('keeps relative error within half an ulp (2^-11) over the normal range', () => {
    let x = 1.2345e-4;
    while (x < 6e4) {
      const back = float16ToFloat32(float32ToFloat16(x));
      expect(Math.abs(back - x) / x).toBeLessThanOrEqual(2 ** -11);
      x *= 1.37;
    }
  });
});
