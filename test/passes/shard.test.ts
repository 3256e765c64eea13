import { describe, expect, it } from 'vitest';
import { DEFAULT_SHARD_BYTES, filesToModel, modelToFiles, type StoredModel } from '../../src/model/index.js';
import { shard } from '../../src/passes/shard/index.js';
import type { PassContext } from '../../src/passes/index.js';

const ctx = {} as PassContext; // shard reads no data and loads no engine
const place = { path: ['passes', 1, 'shard'], at: (o?: string) => `r.yaml:3:${o ? 20 : 5}` };

const model: StoredModel = {
  json: { format: 'layers-model', modelTopology: { class_name: 'Sequential' } },
  weightSpecs: [
    { name: 'a', shape: [300], dtype: 'float32' },
    { name: 'b', shape: [7], dtype: 'int32' },
    { name: 'c', shape: [1001], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.01 } },
  ],
  weightData: new Uint8Array(1200 + 28 + 1001).map((_, i) => (i * 31) % 251),
};

describe('shard options', () => {
  it("reads bytes and human sizes, defaulting to TF.js's 4 MiB", () => {
    expect(shard.resolveOptions({}, place)).toEqual({ shardBytes: DEFAULT_SHARD_BYTES });
    expect(shard.resolveOptions({ shardBytes: 4096 }, place)).toEqual({ shardBytes: 4096 });
    expect(shard.resolveOptions({ shardBytes: '512kB' }, place)).toEqual({ shardBytes: 512_000 });
    expect(shard.resolveOptions({ shardBytes: '4MB' }, place)).toEqual({ shardBytes: 4_000_000 });
    expect(shard.resolveOptions({ shardBytes: '1MiB' }, place)).toEqual({ shardBytes: 1024 * 1024 });
    expect(shard.resolveOptions({ shardBytes: '1kB' }, place)).toEqual({ shardBytes: 1000 });
  });

  it('refuses shards under 1 kB and non-sizes, pointing at the option', () => {
    expect(() => shard.resolveOptions({ shardBytes: 999 }, place)).toThrow(
      /`passes\[1\]\.shard\.shardBytes` is 999 bytes at r\.yaml:3:20; shards must hold at least 1 kB \(1000 bytes\)/,
    );
    expect(() => shard.resolveOptions({ shardBytes: '0.5kB' }, place)).toThrow(/is 500 bytes/);
    expect(() => shard.resolveOptions({ shardBytes: '4 parsecs' }, place)).toThrow(
      /`passes\[1\]\.shard\.shardBytes` is not a size \(got "4 parsecs"\) at r\.yaml:3:20/,
    );
    expect(() => shard.resolveOptions({ shardBytes: 1500.5 }, place)).toThrow(/is not a size/);
  });

  it('runs without data or engine, on any backend', () => {
    expect(shard.needs?.({ shardBytes: 1000 }) ?? []).toEqual([]);
    expect(shard.dependsOnBackend?.({ shardBytes: 1000 }) ?? false).toBe(false);
  });
});

describe('shard apply', () => {
  it('sets the shard size and changes no weight byte; files split at byte offsets, straddling weights', async () => {
    const out = await shard.apply(model, { shardBytes: 1000 }, ctx);
    expect(out.model.weightData).toBe(model.weightData);
    expect(out.model.weightSpecs).toEqual(model.weightSpecs);
    expect(out.model.shardBytes).toBe(1000);
    expect(out.stats).toEqual({
      shardBytes: 1000,
      shardSize: '1.0 kB',
      weightBytes: 2229,
      shardsBefore: 1,
      shardsAfter: 3,
    });
    const files = modelToFiles(out.model);
    expect([...files].map(([name, data]) => [name, data.byteLength]).slice(1)).toEqual([
      ['group1-shard1of3.bin', 1000],
      ['group1-shard2of3.bin', 1000],
      ['group1-shard3of3.bin', 229],
    ]);
    const manifest = JSON.parse(new TextDecoder().decode(files.get('model.json'))).weightsManifest;
    expect(manifest).toEqual([
      { paths: ['group1-shard1of3.bin', 'group1-shard2of3.bin', 'group1-shard3of3.bin'], weights: model.weightSpecs },
    ]);
    // Read back (as the next step does from the cache): same bytes, same shard size.
    const back = filesToModel(files);
    expect(back.shardBytes).toBe(1000);
    expect(back.weightData).toEqual(model.weightData);
  });

  it('a later shard pass replaces an earlier size', async () => {
    const first = await shard.apply(model, { shardBytes: 1000 }, ctx);
    const second = await shard.apply(filesToModel(modelToFiles(first.model)), { shardBytes: 2000 }, ctx);
    expect(second.stats).toMatchObject({ shardsBefore: 3, shardsAfter: 2 });
    expect([...modelToFiles(second.model).keys()]).toEqual([
      'model.json',
      'group1-shard1of2.bin',
      'group1-shard2of2.bin',
    ]);
  });
});
