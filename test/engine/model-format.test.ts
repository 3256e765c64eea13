import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SHARD_BYTES,
  filesToModel,
  modelToFiles,
  nonFiniteWeights,
  readModelDir,
  type StoredModel,
  float16ToFloat32,
  float32ToFloat16,
} from '../../src/model/index.js';
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
    expect([...files.keys()]).toEqual([
      'model.json',
      'group1-shard1of3.bin',
      'group1-shard2of3.bin',
      'group1-shard3of3.bin',
    ]);
    expect([...files.values()].slice(1).map((f) => f.byteLength)).toEqual([4096, 4096, 1808]);
    // The shard size is read back from the files (every shard but the last is full), so writing the model
    // again gives the same files.
    expect(filesToModel(files)).toEqual({ ...m, shardBytes: 4096 });
    const { model: read, digest } = await readModelDir(writeModelDir(files));
    expect(read).toEqual({ ...m, shardBytes: 4096 });
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("writes with the model's own shardBytes, and round-trips every shard size exactly", () => {
    const m = model(10_000);
    for (const shardBytes of [1000, 1024, 4096, 5000, 9999, 10_000, 65_536]) {
      const files = modelToFiles({ ...m, shardBytes });
      const back = filesToModel(files);
      expect(back.weightData).toEqual(m.weightData);
      expect(modelToFiles(back)).toEqual(files);
      // One shard that fits the default size: nothing to remember (models written before the shard pass
      // existed read back exactly as before).
      expect(back.shardBytes).toBe(shardBytes >= 10_000 ? undefined : shardBytes);
    }
  });

  it('keeps the default shard size implicit, and remembers a single shard larger than the default', () => {
    // Megabytes: compare with Buffer.equals (a deep toEqual walks every byte slowly).
    const same = (a: Map<string, Uint8Array>, b: Map<string, Uint8Array>) =>
      [...a.keys()].join() === [...b.keys()].join() && [...a].every(([k, v]) => Buffer.from(v).equals(b.get(k)!));
    const big = model(DEFAULT_SHARD_BYTES + 4000);
    const byDefault = modelToFiles(big);
    expect([...byDefault.keys()]).toEqual(['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']);
    const read = filesToModel(byDefault);
    expect(read.shardBytes).toBeUndefined();
    expect(Buffer.from(read.weightData).equals(big.weightData)).toBe(true);
    const one = modelToFiles({ ...big, shardBytes: 8 * 1024 * 1024 });
    expect([...one.keys()]).toEqual(['model.json', 'group1-shard1of1.bin']);
    const back = filesToModel(one);
    expect(back.shardBytes).toBe(DEFAULT_SHARD_BYTES + 4000);
    expect(same(modelToFiles(back), one)).toBe(true);
    expect(same(modelToFiles(read), byDefault)).toBe(true);
  });

  it('writes an empty weight list as one empty shard and reads it back', () => {
    const empty: StoredModel = {
      json: { format: 'layers-model', modelTopology: {} },
      weightSpecs: [],
      weightData: new Uint8Array(0),
    };
    const files = modelToFiles({ ...empty, shardBytes: 1000 });
    expect([...files.keys()]).toEqual(['model.json', 'group1-shard1of1.bin']);
    expect(filesToModel(files)).toEqual(empty);
  });

  it('rejects shard paths that leave the model folder', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }),
    );
    await expect(readModelDir(join(dir, 'model.json'))).rejects.toThrow(/points outside the model's folder/);
  });

  it('rejects JSON that is not an object, and unsupported dtypes', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'model.json'), '[1,2]');
    await expect(readModelDir(join(dir, 'model.json'))).rejects.toThrow(
      /is not a TF\.js model\.json: it is not a JSON object/,
    );
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify({
        modelTopology: {},
        weightsManifest: [{ paths: [], weights: [{ name: 's', shape: [1], dtype: 'string' }] }],
      }),
    );
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

describe('hostile model files', () => {
  const write = (json: unknown, shards: Record<string, Uint8Array> = {}) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json));
    for (const [name, bytes] of Object.entries(shards)) writeFileSync(join(dir, name), bytes);
    return join(dir, 'model.json');
  };
  const manifest = (paths: string[], weights: unknown[]) => ({
    format: 'layers-model',
    modelTopology: {},
    weightsManifest: [{ paths, weights }],
  });

  it('refuses URLs, absolute paths and .. in shard paths', async () => {
    for (const p of [
      'https://x.test/w.bin',
      'file:///etc/passwd',
      'data:application/octet-stream,AAAA',
      '/etc/passwd',
      'a/../../b.bin',
      '..',
      '',
    ]) {
      await expect(readModelDir(write(manifest([p], [])))).rejects.toThrow(/points outside the model's folder/);
    }
  });

  it('checks shapes before trusting their byte counts', async () => {
    const cases: [unknown[], RegExp][] = [
      [[-1, 2], /every dimension must be a non-negative integer/],
      [[1.5], /every dimension must be a non-negative integer/],
      [['4'], /every dimension must be a non-negative integer/],
      [[65536, 65536], /4294967296 elements \(at most 2147483647/],
      [[1, 1, 1, 1, 1, 1, 1, 1, 1], /9 dimensions/],
    ];
    for (const [shape, message] of cases) {
      await expect(
        readModelDir(
          write(manifest(['w.bin'], [{ name: 'w', shape, dtype: 'float32' }]), { 'w.bin': new Uint8Array(8) }),
        ),
      ).rejects.toThrow(message);
    }
  });

  it('names each shard with its size when the total is wrong, before reading', async () => {
    const path = write(manifest(['a.bin', 'b.bin'], [{ name: 'w', shape: [4], dtype: 'float32' }]), {
      'a.bin': new Uint8Array(8),
      'b.bin': new Uint8Array(4),
    });
    await expect(readModelDir(path)).rejects.toThrow(
      /\(a\.bin \(8 bytes\), b\.bin \(4 bytes\)\) hold 12 bytes but its weights need 16 \(4 bytes short/,
    );
  });

  it('limits model.json nesting and refuses non-files and bad layer names', async () => {
    await expect(
      readModelDir(write(`{"modelTopology": ${'['.repeat(1000)}${']'.repeat(1000)}, "weightsManifest": []}`)),
    ).rejects.toThrow(/nests its JSON more than 128 levels deep/);
    await expect(readModelDir('/dev/zero')).rejects.toThrow(/is not a regular file/);
    const topology = {
      class_name: 'Sequential',
      config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'fc*1', units: 1 } }] },
    };
    await expect(
      readModelDir(write({ format: 'layers-model', modelTopology: topology, weightsManifest: [] })),
    ).rejects.toThrow(/layer 0 is named "fc\*1", which TF\.js cannot load/);
  });

  it('finds NaN and infinite float32 and float16 weights', () => {
    const f32 = new Float32Array([1, Number.NaN, 2, Number.NEGATIVE_INFINITY]);
    const f16 = new Uint16Array([0x3c00, 0x7c00, 0x7e00]); // 1, +Inf, NaN
    const m: StoredModel = {
      json: { format: 'layers-model', modelTopology: {} },
      weightSpecs: [
        { name: 'a', shape: [4], dtype: 'float32' },
        { name: 'h', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
        { name: 'i', shape: [1], dtype: 'int32' },
      ],
      weightData: new Uint8Array([
        ...new Uint8Array(f32.buffer),
        ...new Uint8Array(f16.buffer),
        0xff,
        0xff,
        0xff,
        0x7f,
      ]),
    };
    expect(nonFiniteWeights(m)).toEqual([
      { name: 'a', count: 2 },
      { name: 'h', count: 2 },
    ]);
  });
});
