/**
 * The `preprocess` block through the built CLI: a folder of unlabelled JPEGs and PNGs of several sizes and
 * colours is fitted to a 28×28×1 model; the first build decodes each image once, a rebuild that must
 * evaluate again decodes none (counted by the decoder, MCBUILD_COUNT_DECODES); bad settings exit 2 at the
 * recipe line.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const work = tempDir('mcbuild-preprocess-e2e-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const IMAGES = 8;

/** A picture with a bright disc, off-centre, on a dark ground: something a digit model reacts to. */
function picture(width: number, height: number, k: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - width * (0.3 + 0.05 * k), y - height / 2);
      const v = d < Math.min(width, height) / 3 ? 230 : 20;
      data.set([v, (v + 40 * k) % 256, v, 255], (y * width + x) * 4);
    }
  if (k % 2) return Buffer.from(jpeg.encode({ data, width, height }, 90).data);
  const img = new PNG({ width, height });
  data.copy(img.data);
  return PNG.sync.write(img);
}

const recipe = (data: string, passes = '  - quantize: { dtype: uint8 }') =>
  tinyRecipe({ passes, thresholds: '  fidelity: { minAgreement: 0 }', output: './out' }).replace(
    '  eval: { dataset: mnist, split: test, limit: 300 }',
    data,
  );
const decodes = join(work, 'decodes.log');
const build = (file: string) =>
  runCli(['build', file, '--backend', 'wasm'], { cwd: work, env: { MCBUILD_COUNT_DECODES: decodes } });
const decoded = (): number =>
  existsSync(decodes) ? readFileSync(decodes, 'utf8').split('\n').filter(Boolean).length : 0;

beforeAll(() => {
  for (let k = 0; k < IMAGES; k++) writeText(join(work, 'photos', `${k}.${k % 2 ? 'jpg' : 'png'}`), '');
  for (let k = 0; k < IMAGES; k++)
    writeFileSync(join(work, 'photos', `${k}.${k % 2 ? 'jpg' : 'png'}`), picture(40 + 9 * k, 30 + 5 * k, k));
});

describe('preprocess through the CLI', () => {
  const data =
    '  eval: { dataset: images, path: ./photos, preprocess: { size: 28, resize: centre-crop, channels: 1 } }';

  it('fits images of any size to the model; a rebuild decodes nothing', async () => {
    writeText(join(work, 'a.yaml'), recipe(data));
    const first = await build('a.yaml');
    expect(first.code, first.all).toBe(0);
    expect(decoded()).toBe(IMAGES);
    const report = JSON.parse(readFileSync(join(work, 'out', 'report.json'), 'utf8')) as {
      metrics: { result: { count: number } };
    };
    expect(report.metrics.result.count).toBe(IMAGES);
    // Another pass: the result is evaluated again on the same slice, read from the cache.
    writeText(join(work, 'b.yaml'), recipe(data, '  - quantize: { dtype: float16 }'));
    const second = await build('b.yaml');
    expect(second.code, second.all).toBe(0);
    expect(second.all).toMatch(/evaluate result/);
    expect(decoded()).toBe(IMAGES);
  }, 240_000);

  it('bad settings exit 2 with the recipe place and the fix', async () => {
    writeText(
      join(work, 'bad.yaml'),
      recipe('  eval: { dataset: images, path: ./photos, preprocess: { size: 28, channels: 1, order: bgr } }'),
    );
    const bad = await build('bad.yaml');
    expect(bad.code, bad.all).toBe(2);
    expect(bad.stderr).toMatch(
      /`data\.eval\.preprocess\.order` at .*bad\.yaml:\d+:\d+ is `bgr`, but the inputs have 1 channel.*remove `order`/,
    );
    expect(stackLines(bad.all)).toEqual([]);
    writeText(
      join(work, 'crop.yaml'),
      recipe('  eval: { dataset: images, path: ./photos, preprocess: { resize: letterbox } }'),
    );
    const crop = await build('crop.yaml');
    expect(crop.code, crop.all).toBe(2);
    expect(crop.stderr).toMatch(
      /`data\.eval` at .*crop\.yaml:\d+:\d+: `preprocess\.resize: letterbox` fits the samples to `preprocess\.size`, which is not set; set `size`/,
    );
  }, 120_000);
});
