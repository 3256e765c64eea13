/**
 * Decoded slices kept in the step cache: the second load of a slice decodes nothing (counted by the
 * decoder itself), gives the same bytes, and a damaged or foreign entry is a miss that decodes again.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { StepCache } from '../../src/cache/index.js';
import {
  cachedSlice,
  cachesSlices,
  datasetFacts,
  datasetFingerprint,
  datasetId,
  loadDataset,
} from '../../src/data/index.js';
import { decodeCount } from '../../src/data/image-decode.js';
import { packBytes, sliceKey } from '../../src/data/slice-cache.js';
import type { ImagesDataSpec } from '../../src/recipe/index.js';
import { tempDir } from '../helpers.js';

const root = tempDir('mcbuild-slices-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function png(width: number, height: number, seed: number): Buffer {
  const img = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) img.data.set([(i * seed) % 256, (i * 7) % 256, seed * 20, 255], i * 4);
  return PNG.sync.write(img);
}

const data = join(root, 'photos');
for (const [cls, files] of [
  ['cat', 3],
  ['dog', 2],
] as const) {
  mkdirSync(join(data, cls), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(data, cls, `${i}.png`), png(20 + i * 7, 15 + i * 3, i + 1));
}
const spec: ImagesDataSpec = {
  dataset: 'images',
  path: data,
  split: 'test',
  channels: 3,
  scale: 1 / 255,
  offset: 0,
  preprocess: { size: [12, 12], resize: 'centre-crop', order: 'bgr', pad: 0 },
};

async function fingerprint(s: ImagesDataSpec): Promise<Record<string, unknown>> {
  const facts = await datasetFacts(s, 'here');
  return datasetFingerprint(s, { [datasetId(s)]: facts! });
}

/** Every content file of a cache directory. */
function contentFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(join(dir, 'content-v2'));
  return out;
}

describe('decoded slices in the step cache', () => {
  it('a second load decodes nothing and gives the same slice; a damaged entry is a miss', async () => {
    const cache = new StepCache(join(root, 'cache'));
    const keyed = await fingerprint(spec);
    const before = decodeCount();
    const first = await cachedSlice(cache, spec, keyed, () => loadDataset(spec));
    expect(decodeCount() - before).toBe(5);
    const again = decodeCount();
    const second = await cachedSlice(cache, spec, keyed, () => loadDataset(spec));
    expect(decodeCount() - again).toBe(0);
    expect(second.x).toEqual(first.x);
    expect(Array.from(second.y!)).toEqual(Array.from(first.y!));
    expect(second.y).toBeInstanceOf(Uint8Array);
    expect({ ...second, x: 0, y: 0 }).toEqual({ ...first, x: 0, y: 0 });
    // Preprocessed images are 8-bit: stored as one byte a value, rebuilt bit-identical.
    const stored = await cache.read(sliceKey(keyed));
    expect(stored!.files.get('x')!.byteLength).toBe(5 * 12 * 12 * 3);
    expect(stored!.meta.bytes).toBeDefined();
    // Planning read only headers.
    const planned = decodeCount();
    await fingerprint(spec);
    expect(decodeCount() - planned).toBe(0);

    // Every stored byte overwritten: the read fails verification, the slice is decoded and stored anew.
    for (const f of contentFiles(cache.dir)) writeFileSync(f, 'damaged');
    const damaged = decodeCount();
    const third = await cachedSlice(cache, spec, keyed, () => loadDataset(spec));
    expect(decodeCount() - damaged).toBe(5);
    expect(third.x).toEqual(first.x);
    const healed = decodeCount();
    await cachedSlice(cache, spec, keyed, () => loadDataset(spec));
    expect(decodeCount() - healed).toBe(0);
  });

  it('another setting is another entry; an entry that is not a slice is a miss', async () => {
    const cache = new StepCache(join(root, 'cache2'));
    const other = { ...spec, preprocess: { ...spec.preprocess!, resize: 'letterbox' as const } };
    const a = await fingerprint(spec);
    const b = await fingerprint(other);
    expect(sliceKey(a)).not.toBe(sliceKey(b));
    await cachedSlice(cache, spec, a, () => loadDataset(spec));
    const count = decodeCount();
    const letterboxed = await cachedSlice(cache, other, b, () => loadDataset(other));
    expect(decodeCount() - count).toBe(5);
    expect(letterboxed.x).toEqual((await loadDataset(other)).x);
    // Something else under the key (a truncated array): decoded again, no error.
    await cache.write(sliceKey(a), {
      files: new Map([['x', new Uint8Array(8)]]),
      meta: { slice: 1, name: 'x', count: 5, inputShape: [12, 12, 3] },
    });
    const foreign = decodeCount();
    await cachedSlice(cache, spec, a, () => loadDataset(spec));
    expect(decodeCount() - foreign).toBe(5);
  });

  it('values that are not 8-bit are stored as float32', () => {
    const x = Float32Array.from([0.5, 1, 2]);
    const one = Float64Array.from([1]);
    const zero = Float64Array.from([0]);
    expect(packBytes(x, one, zero)).toBeUndefined();
    expect(Array.from(packBytes(Float32Array.from([0, 1, 255]), one, zero)!)).toEqual([0, 1, 255]);
    expect(packBytes(Float32Array.from([256]), one, zero)).toBeUndefined();
    const scaled = Float32Array.from([0, 1 / 255, 128 / 255].map((v) => (v - 0.5) / 0.25));
    expect(
      Array.from(packBytes(scaled, Float64Array.from([1 / 255 / 0.25]), Float64Array.from([-0.5 / 0.25]))!),
    ).toEqual([0, 1, 128]);
  });

  it('keeps decoded images and resized arrays, not plain arrays', () => {
    expect(cachesSlices(spec)).toBe(true);
    expect(cachesSlices({ dataset: 'npy', x: 'x.npy', scale: 1, offset: 0 })).toBe(false);
    expect(
      cachesSlices({
        dataset: 'npy',
        x: 'x.npy',
        scale: 1,
        offset: 0,
        preprocess: { resize: 'stretch', order: 'bgr', pad: 0 },
      }),
    ).toBe(true);
    expect(cachesSlices({ dataset: 'mnist', split: 'test' })).toBe(false);
  });
});
