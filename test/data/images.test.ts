import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFacts, loadDataset } from '../../src/data/index.js';
import { resizeBilinear } from '../../src/data/resample.js';
import { loadMnist } from '../../src/data/mnist.js';
import { McbError } from '../../src/errors.js';
import type { ImagesDataSpec } from '../../src/recipe/index.js';
import { tempDir } from '../helpers.js';

const root = tempDir('mcbuild-images-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An RGBA PNG from rows of [r, g, b, a] pixels. */
function png(pixels: number[][][]): Buffer {
  const img = new PNG({ width: pixels[0]!.length, height: pixels.length });
  pixels.flat().forEach((p, i) => img.data.set(p, i * 4));
  return PNG.sync.write(img);
}

/** A grey PNG (colour type 0) from rows of values. */
function greyPng(rows: number[][]): Buffer {
  return png(rows.map((r) => r.map((v) => [v, v, v, 255])));
}

function write(path: string, bytes: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

let n = 0;
/** A fresh folder with `files` (relative path → bytes). */
function folder(files: Record<string, Uint8Array | string>): string {
  const dir = join(root, `f${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [rel, bytes] of Object.entries(files)) write(join(dir, rel), bytes);
  return dir;
}

function spec(path: string, over: Partial<ImagesDataSpec> = {}): ImagesDataSpec {
  return { dataset: 'images', path, split: 'test', channels: 1, scale: 1, offset: 0, ...over };
}

async function failure(p: Promise<unknown>): Promise<McbError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McbError);
  expect((e as McbError).code).toBe('MCB_DATASET');
  return e as McbError;
}

describe('image folders: decoding, channels, resizing', () => {
  it('a 2×2 grey PNG resized to 4×4 gives the hand-computed half-pixel bilinear values', async () => {
    const dir = folder({
      'a/img.png': greyPng([
        [0, 100],
        [200, 255],
      ]),
    });
    const ds = await loadDataset(spec(dir, { size: [4, 4] }));
    expect(ds.inputShape).toEqual([4, 4, 1]);
    // Source coordinate (o + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25: clamped ends, weights 0.25 / 0.75 inside.
    const row = (a: number, b: number) => [a, a + (b - a) * 0.25, a + (b - a) * 0.75, b];
    const top = row(0, 100);
    const bottom = row(200, 255);
    const expected = [
      top,
      top.map((t, i) => t + (bottom[i]! - t) * 0.25),
      top.map((t, i) => t + (bottom[i]! - t) * 0.75),
      bottom,
    ].flat();
    expect(Array.from(ds.x)).toEqual(expected.map((v) => Math.fround(v)));
    expect(expected.slice(0, 4)).toEqual([0, 25, 75, 100]);
  });

  it('resizeBilinear: the identity at the same size, and a 4→2 downscale averages pairs (as TF does without antialiasing)', () => {
    const src = Float64Array.from([0, 10, 20, 30]);
    expect(resizeBilinear(src, 1, 4, 1, 1, 4)).toBe(src);
    // (o + 0.5)·2 − 0.5 = 0.5, 2.5: the mean of pixels 0,1 and of 2,3.
    expect(Array.from(resizeBilinear(src, 1, 4, 1, 1, 2))).toEqual([5, 25]);
  });

  it('RGB → grey with BT.601 weights, grey → RGB repeated, RGBA keeps alpha, and scale/offset/mean/std per channel', async () => {
    const dir = folder({
      'c/x.png': png([
        [
          [255, 0, 0, 255],
          [0, 255, 0, 128],
          [0, 0, 255, 0],
          [10, 10, 10, 255],
        ],
      ]),
    });
    const grey = await loadDataset(spec(dir));
    expect(Array.from(grey.x)).toEqual([0.299 * 255, 0.587 * 255, 0.114 * 255, 10].map(Math.fround));
    const rgba = await loadDataset(spec(dir, { channels: 4 }));
    expect(Array.from(rgba.x)).toEqual([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 10, 10, 10, 255]);
    const rgb = await loadDataset(
      spec(dir, { channels: 3, scale: 1 / 255, offset: 0, mean: [0.5, 0, 0.25], std: [0.5, 1, 2] }),
    );
    // ((raw / 255) − mean[c]) / std[c]
    expect(rgb.inputShape).toEqual([1, 4, 3]);
    expect(Array.from(rgb.x.slice(0, 3))).toEqual([(1 - 0.5) / 0.5, 0, (0 - 0.25) / 2].map(Math.fround));
    const greyPixels = folder({ 'c/g.png': greyPng([[7, 9]]) });
    expect(Array.from((await loadDataset(spec(greyPixels, { channels: 3 }))).x)).toEqual([7, 7, 7, 9, 9, 9]);
  });

  it('JPEG (jpeg-js) decodes close to the PNG of the same MNIST digit, and the formats mix in one folder', async () => {
    const digits = await loadMnist('test', 10);
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 2; i++) {
      const rgba = new Uint8Array(28 * 28 * 4);
      for (let p = 0; p < 784; p++)
        rgba.set(
          [
            Math.round(digits.x[i * 784 + p]! * 255),
            Math.round(digits.x[i * 784 + p]! * 255),
            Math.round(digits.x[i * 784 + p]! * 255),
            255,
          ],
          p * 4,
        );
      files[`d${digits.y[i]}/0.jpg`] = jpeg.encode({ width: 28, height: 28, data: rgba }, 100).data;
      const img = new PNG({ width: 28, height: 28 });
      img.data.set(rgba);
      files[`d${digits.y[i]}/1.png`] = PNG.sync.write(img);
    }
    const ds = await loadDataset(spec(folder(files), { scale: 1 / 255 }));
    expect(ds.count).toBe(4);
    expect(ds.classNames).toEqual(['d0', 'd1']);
    // Interleaved: d0/0.jpg, d1/0.jpg, d0/1.png, d1/1.png.
    expect(Array.from(ds.y!)).toEqual([0, 1, 0, 1]);
    let worst = 0;
    for (let p = 0; p < 2 * 784; p++) worst = Math.max(worst, Math.abs(ds.x[p]! - ds.x[2 * 784 + p]!));
    expect(worst).toBeGreaterThan(0); // lossy
    expect(worst).toBeLessThan(0.1);
    // PNG is lossless: exactly the 8-bit digit.
    for (let p = 0; p < 784; p++) expect(ds.x[2 * 784 + p]).toBe(Math.fround(Math.round(digits.x[p]! * 255) / 255));
  });
});

describe('image folders: layout, order, labels', () => {
  const tiny = (v: number) => greyPng([[v]]);

  it('classes are the sorted sub-folders, files sorted and class-interleaved, so a limit prefix is balanced', async () => {
    const dir = folder({
      'b/1.png': tiny(11),
      'b/2.png': tiny(12),
      'b/3.png': tiny(13),
      'a/2.png': tiny(2),
      'a/1.png': tiny(1),
      'c/9.png': tiny(99),
      '.DS_Store': 'x',
      'a/.hidden': 'x',
    });
    const ds = await loadDataset(spec(dir));
    expect(ds.classNames).toEqual(['a', 'b', 'c']);
    expect(Array.from(ds.x)).toEqual([1, 11, 99, 2, 12, 13]);
    expect(Array.from(ds.y!)).toEqual([0, 1, 2, 0, 1, 1]);
    expect(ds.numClasses).toBe(3);
    const first = await loadDataset(spec(dir, { limit: 3 }));
    expect(Array.from(first.y!)).toEqual([0, 1, 2]);
    // `classes` fixes the label order to the model's.
    const ordered = await loadDataset(spec(dir, { classes: ['c', 'a', 'b'] }));
    expect(Array.from(ordered.x)).toEqual([99, 1, 11, 2, 12, 13]);
    expect(Array.from(ordered.y!)).toEqual([0, 1, 2, 1, 2, 2]);
    // labels: false reads the same images without labels.
    const free = await loadDataset(spec(dir, { labels: false }));
    expect(free.y).toBeUndefined();
    expect(free.numClasses).toBeUndefined();
    expect(Array.from(free.x)).toEqual([1, 11, 99, 2, 12, 13]);
  });

  it('a folder of images without class folders is label-free; train/ and test/ sub-folders are chosen by split', async () => {
    const flat = await loadDataset(spec(folder({ 'b.png': tiny(2), 'a.png': tiny(1) })));
    expect(flat.y).toBeUndefined();
    expect(Array.from(flat.x)).toEqual([1, 2]);
    const dir = folder({ 'train/x/1.png': tiny(5), 'test/x/1.png': tiny(7), 'test/y/1.png': tiny(8) });
    expect(Array.from((await loadDataset(spec(dir, { split: 'test' }))).x)).toEqual([7, 8]);
    expect(Array.from((await loadDataset(spec(dir, { split: 'train' }))).x)).toEqual([5]);
    const facts = await datasetFacts(spec(dir), 'here');
    expect(facts).toMatchObject({ inputShape: [1, 1, 1], numClasses: 2, labelled: true });
  });

  it('the digest follows the listing and the bytes of the files read, not files beyond the limit', async () => {
    const dir = folder({ 'a/1.png': tiny(1), 'a/2.png': tiny(2), 'b/1.png': tiny(3), 'b/2.png': tiny(4) });
    const digest = async (limit?: number) =>
      (await datasetFacts(spec(dir, limit === undefined ? {} : { limit }), 'here'))!.digest;
    const [all, two] = [await digest(), await digest(2)];
    const loaded = await loadDataset(spec(dir, { limit: 2 }));
    expect(loaded.digest).toBe(two);
    writeFileSync(join(dir, 'b/2.png'), tiny(40)); // read only without the limit
    expect(await digest(2)).toBe(two);
    expect(await digest()).not.toBe(all);
    writeFileSync(join(dir, 'a/1.png'), tiny(10));
    expect(await digest(2)).not.toBe(two);
    write(join(dir, 'b/3.png'), tiny(5)); // a new file changes the listing
    const before = await digest(2);
    rmSync(join(dir, 'b/3.png'));
    expect(await digest(2)).not.toBe(before);
  });

  it('without `size`, the first image decides and later images are resized to it', async () => {
    const dir = folder({ 'a/1.png': greyPng([[0, 255]]), 'a/2.png': greyPng([[0, 100, 200, 255]]) });
    const ds = await loadDataset(spec(dir));
    expect(ds.inputShape).toEqual([1, 2, 1]);
    expect(Array.from(ds.x)).toEqual([0, 255, 50, 227.5]);
  });
});

describe('image folders: every error names the file and the fix', () => {
  const tiny = greyPng([[1]]);

  it('unsupported files, empty class folders, corrupt images, empty folders, mixed layouts', async () => {
    expect((await failure(loadDataset(spec(folder({ 'a/1.png': tiny, 'a/notes.txt': 'hi' }))))).message).toMatch(
      /a\/notes\.txt is not an image mcbuild reads .*\.png, \.jpg and \.jpeg.*Move it out/,
    );
    const emptyClass = folder({ 'a/1.png': tiny });
    mkdirSync(join(emptyClass, 'b'));
    expect((await failure(loadDataset(spec(emptyClass)))).message).toMatch(
      /class folder .*\/b holds no images; every class needs at least one/,
    );
    expect((await failure(loadDataset(spec(folder({ 'a/1.png': tiny.subarray(0, 40) }))))).message).toMatch(
      /a\/1\.png is not a readable PNG .*Re-export it/,
    );
    expect(
      (await failure(loadDataset(spec(folder({ 'a/1.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2]) }))))).message,
    ).toMatch(/a\/1\.jpg is not a readable JPEG/);
    expect((await failure(loadDataset(spec(folder({ 'a/1.png': 'GIF89a...' }))))).message).toMatch(
      /1\.png is named as an image but is neither PNG nor JPEG \(it starts with bytes 47 49 46 38\)/,
    );
    const empty = folder({});
    expect((await failure(loadDataset(spec(empty)))).message).toMatch(/holds no images and no class folders/);
    expect((await failure(loadDataset(spec(folder({ 'a/1.png': tiny, 'loose.png': tiny }))))).message).toMatch(
      /holds both class folders \(a\/\) and image files \(loose\.png\)/,
    );
    expect((await failure(loadDataset(spec(folder({ 'a/deeper/1.png': tiny }))))).message).toMatch(
      /class folder .*\/a has a sub-folder deeper\//,
    );
    expect((await failure(loadDataset(spec(join(root, 'missing'))))).message).toMatch(
      /image folder .*missing does not exist\. Check `path`/,
    );
  });

  it('a dangling symbolic link, in a class folder or beside the classes, is named (not a crash, not "does not exist")', async () => {
    const inClass = folder({ 'a/1.png': tiny, 'b/1.png': tiny });
    symlinkSync(join(root, 'nowhere.png'), join(inClass, 'b', '2.png'));
    expect((await failure(loadDataset(spec(inClass)))).message).toMatch(
      /b\/2\.png is a symbolic link to something that does not exist\. Fix or remove the link/,
    );
    const beside = folder({ 'a/1.png': tiny });
    symlinkSync(join(root, 'nowhere'), join(beside, 'zz'));
    expect((await failure(loadDataset(spec(beside)))).message).toMatch(
      /zz is a symbolic link to something that does not exist/,
    );
  });

  it('a slice too big for one float32 array is refused with the numbers and the fix, when planning and loading', async () => {
    const many = folder(Object.fromEntries(Array.from({ length: 22 }, (_, i) => [`a/${i}.png`, tiny])));
    const big = spec(many, { size: [8192, 8192], channels: 3 });
    expect((await failure(datasetFacts(big, 'here'))).message).toMatch(
      /would decode to 22 images × 8192×8192×3 = 4\.43e\+9 values \(16\.5 GiB as float32\).*Set `limit` to read fewer images, or a smaller `size`/,
    );
    expect((await failure(loadDataset(big))).message).toMatch(/would decode to 22 images/);
    expect(
      (await datasetFacts(spec(many, { size: [8192, 8192], channels: 3, limit: 21 }), 'here'))!.inputShape,
    ).toEqual([8192, 8192, 3]);
  });

  it('classes that do not match the folders, a missing split, bad mean lengths', async () => {
    const dir = folder({ 'a/1.png': tiny, 'b/1.png': tiny });
    expect((await failure(loadDataset(spec(dir, { classes: ['a', 'c', 'b'] })))).message).toMatch(
      /`classes` lists "c", but .* has no sub-folder of that name \(it has "a", "b"\)/,
    );
    expect((await failure(loadDataset(spec(dir, { classes: ['a'] })))).message).toMatch(
      /has a class folder "b" that `classes` does not list/,
    );
    expect((await failure(loadDataset(spec(folder({ '1.png': tiny }), { classes: ['a'] })))).message).toMatch(
      /has no class sub-folders/,
    );
    expect((await failure(loadDataset(spec(folder({ 'train/a/1.png': tiny }), { split: 'test' })))).message).toMatch(
      /split into train\/ only, but this data reads its test\/ sub-folder .* set `split: train`/,
    );
    expect((await failure(loadDataset(spec(dir, { channels: 3, mean: [0.1, 0.2] }), 'THE-PLACE'))).message).toMatch(
      /^THE-PLACE: `mean` has 2 values, but the inputs have 3 channels/,
    );
  });
});
