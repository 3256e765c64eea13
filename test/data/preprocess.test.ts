/**
 * The `preprocess` block on real files: generated PNG and JPEG pictures of different sizes (grey, RGB, RGBA)
 * and .npy arrays go through channels, order, resize (stretch, centre-crop, letterbox) and normalisation;
 * marked regions land where the geometry says; every setting moves the data's fingerprint; bad settings
 * are refused with the recipe place and the fix.
 */
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFacts, datasetFingerprint, datasetId, fitToModel, loadDataset } from '../../src/data/index.js';
import { decodeImage, imageSize } from '../../src/data/image-decode.js';
import { fitTo, resizeBilinear } from '../../src/data/resample.js';
import { McbError } from '../../src/errors.js';
import { loadRecipe } from '../../src/language/index.js';
import type { DataSpec, ImagePreprocess, ImagesDataSpec, NpyDataSpec } from '../../src/recipe/index.js';
import { npyBytes, tempDir, tinyRecipe, writeText } from '../helpers.js';

const root = tempDir('mcbuild-preprocess-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Rgba = [number, number, number, number];

/** An RGBA PNG of width × height, coloured by `at(x, y)`. */
function png(width: number, height: number, at: (x: number, y: number) => Rgba): Buffer {
  const img = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) img.data.set(at(x, y), (y * width + x) * 4);
  return PNG.sync.write(img);
}

function jpg(width: number, height: number, at: (x: number, y: number) => Rgba, quality = 95): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(at(x, y), (y * width + x) * 4);
  return Buffer.from(jpeg.encode({ data, width, height }, quality).data);
}

let n = 0;
function folder(files: Record<string, Uint8Array>): string {
  const dir = join(root, `f${n++}`);
  for (const [rel, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  return dir;
}

const pre = (over: Partial<ImagePreprocess>): ImagePreprocess => ({ resize: 'stretch', order: 'rgb', pad: 0, ...over });

function images(path: string, over: Partial<ImagesDataSpec> = {}): ImagesDataSpec {
  return { dataset: 'images', path, split: 'test', channels: 3, scale: 1, offset: 0, ...over };
}

/** Pixel (y, x) of sample 0, all channels. */
function pixel(ds: { x: Float32Array; inputShape: number[] }, y: number, x: number): number[] {
  const [, w, c] = ds.inputShape as [number, number, number];
  return Array.from(ds.x.subarray((y * w + x) * c, (y * w + x + 1) * c));
}

const RED: Rgba = [255, 0, 0, 255];
const GREEN: Rgba = [0, 255, 0, 255];
const BLUE: Rgba = [0, 0, 255, 255];
const WHITE: Rgba = [255, 255, 255, 255];

describe('resampling', () => {
  it('a shrinking resize is antialiased: a fine checkerboard becomes even grey, where plain bilinear aliases', () => {
    const size = 48;
    const src = Float64Array.from({ length: size * size }, (_, i) =>
      ((i % size) + Math.floor(i / size)) % 2 ? 255 : 0,
    );
    const spread = (a: Float64Array) => Math.max(...a) - Math.min(...a);
    const fitted = fitTo({ data: src, height: size, width: size, channels: 1 }, 16, 16, 'stretch', 0).data;
    expect(spread(resizeBilinear(src, size, size, 1, 16, 16))).toBe(255);
    expect(spread(fitted)).toBeLessThan(80);
    const mean = fitted.reduce((a, b) => a + b, 0) / fitted.length;
    expect(mean).toBeCloseTo(127.5, 0);
  });

  it('enlarging is the half-pixel bilinear of TF (the same values as the plain resize)', () => {
    const src = Float64Array.from([0, 100, 200, 255]);
    const fitted = fitTo({ data: src, height: 2, width: 2, channels: 1 }, 4, 4, 'stretch', 0).data;
    const plain = resizeBilinear(src, 2, 2, 1, 4, 4);
    fitted.forEach((v, i) => expect(v).toBeCloseTo(plain[i]!, 9));
  });
});

describe('preprocess on image folders', () => {
  it('centre-crop keeps the middle of a wide picture; letterbox fits it whole and pads with `pad`', async () => {
    // 60×20: blue | green | red thirds, as PNG.
    const dir = folder({ 'wide.png': png(60, 20, (x) => (x < 20 ? BLUE : x < 40 ? GREEN : RED)) });
    const crop = await loadDataset(images(dir, { preprocess: pre({ size: [20, 20], resize: 'centre-crop' }) }));
    expect(crop.inputShape).toEqual([20, 20, 3]);
    for (const [y, x] of [
      [0, 0],
      [10, 10],
      [19, 19],
    ] as const)
      expect(pixel(crop, y, x)).toEqual([0, 255, 0]);
    // Letterbox into 30×30: scaled by 0.5 to 30×10, rows 10..19, the rest padded with 114.
    const box = await loadDataset(images(dir, { preprocess: pre({ size: [30, 30], resize: 'letterbox', pad: 114 }) }));
    expect(box.inputShape).toEqual([30, 30, 3]);
    expect(pixel(box, 9, 15)).toEqual([114, 114, 114]);
    expect(pixel(box, 20, 15)).toEqual([114, 114, 114]);
    pixel(box, 15, 2).forEach((v, c) => expect(v).toBeCloseTo(BLUE[c]!, 3));
    pixel(box, 15, 15).forEach((v, c) => expect(v).toBeCloseTo(GREEN[c]!, 3));
    pixel(box, 10, 27).forEach((v, c) => expect(v).toBeCloseTo(RED[c]!, 3));
    // Stretch squeezes the thirds: the middle column is green, the edges blue and red.
    const stretch = await loadDataset(images(dir, { preprocess: pre({ size: [20, 20] }) }));
    pixel(stretch, 5, 10).forEach((v, c) => expect(v).toBeCloseTo(GREEN[c]!, 3));
    pixel(stretch, 5, 0).forEach((v, c) => expect(v).toBeCloseTo(BLUE[c]!, 3));
  });

  it('a marked square in a JPEG lands where the crop puts it', async () => {
    // 80×40 white with a 20×20 black square at x 40..60, y 10..30; centre-crop to 40×40 keeps x 20..60.
    const at = (x: number, y: number): Rgba => (x >= 40 && x < 60 && y >= 10 && y < 30 ? [0, 0, 0, 255] : WHITE);
    const dir = folder({ 'mark.jpg': jpg(80, 40, at) });
    const ds = await loadDataset(
      images(dir, { channels: 1, preprocess: pre({ size: [40, 40], resize: 'centre-crop' }) }),
    );
    expect(ds.inputShape).toEqual([40, 40, 1]);
    expect(pixel(ds, 20, 30)[0]).toBeLessThan(40); // inside the square (x 20..40 of the crop)
    expect(pixel(ds, 20, 10)[0]).toBeGreaterThan(215); // left of it
    expect(pixel(ds, 5, 30)[0]).toBeGreaterThan(215); // above it
  });

  it('bgr swaps red and blue; mean and std then apply in the model order', async () => {
    const dir = folder({ 'red.png': png(4, 4, () => RED) });
    const rgb = await loadDataset(images(dir));
    expect(pixel(rgb, 0, 0)).toEqual([255, 0, 0]);
    const bgr = await loadDataset(
      images(dir, { scale: 1 / 255, mean: [0.5, 0.5, 0], std: [0.5, 0.5, 1], preprocess: pre({ order: 'bgr' }) }),
    );
    expect(pixel(bgr, 0, 0)).toEqual([-1, -1, 1]);
  });

  it('grey, RGB and RGBA files of different sizes become one slice of the channels asked for', async () => {
    const dir = folder({
      'a-grey.png': png(31, 17, () => [100, 100, 100, 255]),
      'b-rgb.jpg': jpg(50, 70, () => [200, 40, 10, 255], 100),
      'c-rgba.png': png(12, 12, () => [10, 20, 30, 0]),
    });
    const rgb = await loadDataset(images(dir, { preprocess: pre({ size: [8, 8] }) }));
    expect(rgb.inputShape).toEqual([8, 8, 3]);
    expect(rgb.count).toBe(3);
    expect(pixel(rgb, 4, 4)).toEqual([100, 100, 100]); // grey repeated
    // Transparent pixels keep their colour; alpha is dropped.
    expect(Array.from(rgb.x.subarray(2 * 192, 2 * 192 + 3))).toEqual([10, 20, 30]);
    const grey = await loadDataset(images(dir, { channels: 1, preprocess: pre({ size: [8, 8] }) }));
    // Preprocessed images are 8-bit, as a canvas or PIL would hand them to the model.
    expect(Array.from(grey.x.subarray(2 * 64, 2 * 64 + 1))[0]).toBe(Math.round(0.299 * 10 + 0.587 * 20 + 0.114 * 30));
    const rgba = await loadDataset(images(dir, { channels: 4, preprocess: pre({ size: [8, 8], order: 'bgr' }) }));
    expect(Array.from(rgba.x.subarray(2 * 256, 2 * 256 + 4))).toEqual([30, 20, 10, 0]);
  });

  it('plans from image headers: sizes without decoding, the same as decoding gives', () => {
    const p = png(33, 21, () => RED);
    const j = jpg(45, 27, () => RED);
    expect(imageSize(p)).toEqual([21, 33]);
    expect(imageSize(j)).toEqual([27, 45]);
    const d = decodeImage(j, 'x.jpg');
    expect([d.height, d.width]).toEqual([27, 45]);
    expect(imageSize(Buffer.from('not an image'))).toBeUndefined();
  });
});

function npy(shape: number[], fill: (i: number) => number, over: Partial<NpyDataSpec> = {}): NpyDataSpec {
  const file = join(root, `a${n++}.npy`);
  const count = shape.reduce((a, b) => a * b, 1);
  writeFileSync(
    file,
    npyBytes(
      '|u1',
      shape,
      Uint8Array.from({ length: count }, (_, i) => fill(i)),
    ),
  );
  return { dataset: 'npy', x: file, scale: 1, offset: 0, ...over };
}

describe('preprocess on arrays', () => {
  it('image-shaped arrays are resized, lose channels and change order per sample', async () => {
    // Two 4×6 RGB samples: sample s has R = 10 + s, G = 100, B = 200.
    const spec = npy([2, 4, 6, 3], (i) => [10 + Math.floor(i / 72), 100, 200][i % 3]!);
    const small = await loadDataset({ ...spec, preprocess: pre({ size: [2, 3], order: 'bgr' }) });
    expect(small.inputShape).toEqual([2, 3, 3]);
    expect(Array.from(small.x.subarray(18, 21)).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([200, 100, 11]);
    const grey = await loadDataset({ ...spec, preprocess: pre({ channels: 1 }) });
    expect(grey.inputShape).toEqual([4, 6, 1]);
    expect(grey.x[0]).toBeCloseTo(0.299 * 10 + 0.587 * 100 + 0.114 * 200, 4);
  });

  it('refuses image settings on data that are not images, colour made up, and a crop without a size', async () => {
    const where = '`data.eval` at r.yaml:9:9';
    const fails = async (spec: DataSpec, pattern: RegExp) => {
      const e = await datasetFacts(spec, where).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(McbError);
      expect((e as McbError).message).toMatch(pattern);
      expect((e as McbError).message.startsWith(where)).toBe(true);
    };
    const flat = npy([3, 12], () => 1);
    await fails(
      { ...flat, preprocess: pre({ size: [2, 2], resize: 'letterbox' }) },
      /holds samples of shape \[12\], not images.*Reshape x/,
    );
    const grey = npy([2, 4, 4, 1], () => 1);
    await fails(
      { ...grey, preprocess: pre({ channels: 3 }) },
      /`preprocess.channels: 3` asks for more channels than .* holds \(1\).*Set `channels: 1`/,
    );
    await fails(
      { ...grey, preprocess: pre({ order: 'bgr' }) },
      /`preprocess.order: bgr` reorders colour, but the inputs have 1 channel/,
    );
    await fails(
      { ...grey, preprocess: pre({ resize: 'centre-crop' }) },
      /`preprocess.resize: centre-crop` fits the samples to `preprocess.size`, which is not set; set `size`/,
    );
    const dir = folder({ 'a.png': png(4, 4, () => RED) });
    await fails(images(dir, { preprocess: pre({ resize: 'letterbox' }) }), /`preprocess.resize: letterbox`/);
  });
});

describe('preprocess in recipes', () => {
  const write = (name: string, data: string): string => {
    const file = join(root, name);
    writeText(file, tinyRecipe().replace('  eval: { dataset: mnist, split: test, limit: 300 }', data));
    return file;
  };
  const dir = folder({ 'a.png': png(40, 30, () => GREEN), 'b.jpg': jpg(30, 40, () => BLUE) });

  it('normalisation keys mean the same in the block or directly; each image setting moves the fingerprint', async () => {
    const direct = await loadRecipe(
      write('direct.yaml', `  eval: { dataset: images, path: ${dir}, scale: 0.5, mean: [1] }`),
    );
    const inBlock = await loadRecipe(
      write('block.yaml', `  eval: { dataset: images, path: ${dir}, preprocess: { scale: 0.5, mean: [1] } }`),
    );
    expect(datasetId(inBlock.data.eval)).toBe(datasetId(direct.data.eval));
    const base = await loadRecipe(
      write('base.yaml', `  eval: { dataset: images, path: ${dir}, preprocess: { size: 16 } }`),
    );
    const explicit = await loadRecipe(
      write(
        'explicit.yaml',
        `  eval: { dataset: images, path: ${dir}, preprocess: { size: [16, 16], resize: stretch, order: rgb } }`,
      ),
    );
    expect(datasetId(explicit.data.eval)).toBe(datasetId(base.data.eval));
    const fingerprint = async (spec: DataSpec) => {
      const facts = await datasetFacts(spec, 'here');
      return JSON.stringify(datasetFingerprint(spec, { [datasetId(spec)]: facts! }));
    };
    const seen = new Set([await fingerprint(base.data.eval)]);
    for (const block of [
      'size: 17',
      'size: 16, resize: centre-crop',
      'size: 16, resize: letterbox',
      'size: 16, resize: letterbox, pad: 114',
      'size: 16, order: bgr',
      'size: 16, channels: 1',
      'size: 16, scale: 2',
    ]) {
      const r = await loadRecipe(
        write(`v${seen.size}.yaml`, `  eval: { dataset: images, path: ${dir}, preprocess: { ${block} } }`),
      );
      seen.add(await fingerprint(r.data.eval));
    }
    expect(seen.size).toBe(8);
  });

  it('bad settings name the recipe place and the fix', async () => {
    const refused = async (data: string, pattern: RegExp) => {
      const e = await loadRecipe(write('bad.yaml', data)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(McbError);
      expect((e as McbError).message).toMatch(pattern);
    };
    await refused(
      `  eval: { dataset: images, path: ${dir}, scale: 1, preprocess: { scale: 2 } }`,
      /`data.eval.preprocess.scale` at .*bad\.yaml:\d+:\d+ repeats `scale`, which the entry also sets at .*bad\.yaml:\d+:\d+; keep one of them/,
    );
    await refused(
      `  eval: { dataset: images, path: ${dir}, preprocess: { size: 8, pad: 114 } }`,
      /`data.eval.preprocess.pad` at .*bad\.yaml:\d+:\d+ is the value letterbox pads with, but `resize` is stretch; set `resize: letterbox`/,
    );
    await refused(
      `  eval: { dataset: images, path: ${dir}, preprocess: { channels: 1, order: bgr } }`,
      /`data.eval.preprocess.order` at .*bad\.yaml:\d+:\d+ is `bgr`, but the inputs have 1 channel/,
    );
    await refused(`  eval: { dataset: npy, x: a.npy, preprocess: { resize: squash } }`, /resize/);
  });

  it("fitToModel: a block without a size takes the model's [h, w]; entries without a block never change", async () => {
    const r = await loadRecipe(
      write('fit.yaml', `  eval: { dataset: images, path: ${dir}, preprocess: { resize: centre-crop } }`),
    );
    const fitted = fitToModel(r.data.eval, [224, 160, 3]) as ImagesDataSpec;
    expect(fitted.preprocess?.size).toEqual([224, 160]);
    expect(fitToModel(r.data.eval, [null, null, 3])).toBe(r.data.eval);
    const plain = images(dir);
    expect(fitToModel(plain, [224, 224, 3])).toBe(plain);
  });
});
