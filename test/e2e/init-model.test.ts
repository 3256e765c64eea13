/**
 * `mcbuild init` on models users bring (the converter-true fixtures): the recipe it writes reads the model's
 * input (images at its size, or raw arrays for an integer input), gates every output on fidelity and the
 * size on a ratio, and validates as written once its data exists.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { detectorGraph, embeddingGraph, mobilenetV2Layers, nestedLayers } from '../fixtures/models/index.js';
import { npyBytes, runCli, tempDir, writeText } from '../helpers.js';

/** A PNG of `width`×`height` with a seeded pattern. */
function picture(width: number, height: number, k: number): Buffer {
  const img = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    img.data[i * 4] = (i * 7 + k * 31) % 256;
    img.data[i * 4 + 1] = (i * 3 + k * 17) % 256;
    img.data[i * 4 + 2] = (i * 11 + k * 5) % 256;
    img.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(img);
}

function imagesIn(dir: string, n = 3): void {
  for (let k = 0; k < n; k++) writeText(join(dir, 'images', `img${k}.png`), '');
  for (let k = 0; k < n; k++) writeFileSync(join(dir, 'images', `img${k}.png`), picture(40 + 8 * k, 30 + 4 * k, k));
}

async function init(dir: string, modelJson: string) {
  const r = await runCli(['init', modelJson, '--out', join(dir, 'recipe.yaml')], { cwd: dir });
  expect(r.code, r.all).toBe(0);
  return { run: r, text: readFileSync(join(dir, 'recipe.yaml'), 'utf8') };
}

const validate = (dir: string) => runCli(['validate', 'recipe.yaml', '--cache-dir', join(dir, 'cache')], { cwd: dir });

describe('mcbuild init on a model users bring', () => {
  it('a layers classifier: label-free images at its input size, int8 per-channel, cosine and agreement', async () => {
    const f = await mobilenetV2Layers();
    const dir = tempDir();
    writeText(join(dir, 'package.json'), '{}');
    const { run, text } = await init(dir, f.modelJson);
    expect(run.stdout).toMatch(/^wrote recipe\.yaml for /);
    expect(run.all).toMatch(/point `data\.eval\.path` at your images/);
    expect(text).not.toMatch(/eval: { dataset: mnist|only dataset/);
    expect(text).toMatch(
      /^# The model \(a layers model\), as `mcbuild init` read it: input input_1 \[null, 224, 224, 3\] float32;$/m,
    );
    expect(text).toMatch(/^# output predictions \(1000 wide, softmax\)\.$/m);
    expect(text).toMatch(/^name: mobilenet-v2-keras2-none-[0-9a-f]+-int8 /m);
    expect(text).toMatch(/^ {4}dataset: images$/m);
    expect(text).toMatch(/^ {4}path: \.\/images +# relative to this file$/m);
    expect(text).toMatch(/^ {6}size: \[224, 224\] /m);
    expect(text).toMatch(/^ {6}channels: 3 /m);
    expect(text).toMatch(/^ {2}- quantize: \{ dtype: int8, granularity: per-channel \}/m);
    expect(text).toMatch(/^ {2}# - prune: \{ sparsity: 0\.5 \}/m);
    expect(text).toMatch(/^ {2}# - finetune: \{ epochs: 1 \} +# learn back from the original \(teacher: baseline\)/m);
    expect(text).toMatch(/^ {2}fidelity: \{ minCosine: 0\.99, minAgreement: 0\.95 \}$/m);
    expect(text).toMatch(/^ {2}size: \{ minRatio: 2\.5 \}/m);
    // Without its images the recipe names the missing folder; with them it validates as written.
    const missing = await validate(dir);
    expect(missing.code, missing.all).toBe(2);
    expect(missing.stderr).toMatch(/images/);
    imagesIn(dir);
    const valid = await validate(dir);
    expect(valid.code, valid.all).toBe(0);
  }, 120_000);

  it('a layers model with two outputs: a limit for each, agreement only on the softmax', async () => {
    const f = await nestedLayers();
    const dir = tempDir();
    const { text } = await init(dir, f.modelJson);
    expect(text).toMatch(/^ {6}size: \[64, 64\] /m);
    expect(text).toMatch(
      /^ {2}fidelity:\n {4}outputs: .*\n {6}classes: \{ minCosine: 0\.99, minAgreement: 0\.95 \}\n {6}proj: \{ minCosine: 0\.99 \}$/m,
    );
    imagesIn(dir);
    const valid = await validate(dir);
    expect(valid.code, valid.all).toBe(0);
  }, 120_000);

  it('a multi-output graph detector with an int32 input: raw npy inputs, every output gated', async () => {
    const f = await detectorGraph();
    const dir = tempDir();
    const { run, text } = await init(dir, f.modelJson);
    expect(run.all).toMatch(/reads the model's int32 input from \.\/inputs\.npy/);
    expect(text).toMatch(
      /^# The model \(a graph model\), as `mcbuild init` read it: input image \[1, 96, 96, 3\] int32;$/m,
    );
    expect(text).toMatch(
      /shaped \[N, 96, 96, 3\] \(N samples\)\.\n {2}# The model's input is int32: the values are fed as they are \(raw values/,
    );
    expect(text).toMatch(/^ {2}eval: \{ dataset: npy, x: \.\/inputs\.npy \}/m);
    expect(text).not.toMatch(/dataset: images/);
    expect(text).not.toMatch(/^ {2}# - finetune/m); // graph models are not finetuned
    expect(text).toMatch(/finetune and\n {2}# +# prune-channels need a layers model/);
    expect(text).toMatch(/^ {2}- quantize: \{ dtype: int8, granularity: per-channel \}/m);
    expect(text).toMatch(/graph ops \(`ops: \[Conv2D\]` matches Conv2D and _FusedConv2D nodes\)/);
    for (const o of f.outputs) expect(text).toMatch(new RegExp(`^ {6}${o.name}: \\{ minCosine: 0\\.99 \\}$`, 'm'));
    expect(f.outputs.map((o) => o.name)).toEqual(['boxes', 'scores', 'keypoints', 'refinement']);
    const values = new Int32Array(2 * 96 * 96 * 3).map((_, i) => (i * 37) % 256);
    writeFileSync(join(dir, 'inputs.npy'), npyBytes('<i4', [2, 96, 96, 3], values));
    const valid = await validate(dir);
    expect(valid.code, valid.all).toBe(0);
  }, 120_000);

  it('a graph embedding: images at 112×112, one cosine limit and no agreement', async () => {
    const f = await embeddingGraph();
    const dir = tempDir();
    const { text } = await init(dir, f.modelJson);
    expect(text).toMatch(/^ {6}size: \[112, 112\] /m);
    expect(text).toMatch(/^ {2}fidelity: \{ minCosine: 0\.99 \}$/m);
    expect(text).not.toMatch(/minAgreement/);
    imagesIn(dir);
    const valid = await validate(dir);
    expect(valid.code, valid.all).toBe(0);
  }, 120_000);

  it('a source stored as uint8: int4 kernels and a smaller ratio, since int8 would not shrink it', async () => {
    const f = await embeddingGraph({ quantization: 'uint8' });
    const dir = tempDir();
    const { text } = await init(dir, f.modelJson);
    expect(text).toMatch(/the source already stores weights in 8 bits: int8 would not make it smaller/);
    expect(text).toMatch(/^ {2}- quantize: \{ dtype: int4, granularity: per-channel, clip: mse \}/m);
    expect(text).toMatch(/^ {2}size: \{ minRatio: 1\.2 \}/m);
    imagesIn(dir);
    const valid = await validate(dir);
    expect(valid.code, valid.all).toBe(0);
  }, 120_000);
});
