/**
 * Datasets beyond mnist, end to end through the built CLI: an image folder and an .npz made from real MNIST
 * digits give the same accuracy as the mnist dataset on the same samples (8-bit pixels, lossless formats),
 * label-free data gates on fidelity only, and label-free data where labels are needed is refused at plan
 * time with the recipe line. One temp project: the recipes share the baseline's cached training.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import type { Report } from '../../src/report/index.js';
import { loadRecipe } from '../../src/language/index.js';
import { recipeInputs } from '../../src/build/watch.js';
import { npyBytes, runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const SAMPLES = 200;
const work = tempDir('mcbuild-datasets-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A grey digit as a PNG: pixels are the 8-bit values the mnist package rounded to 3 decimals. */
function digitPng(x: Float32Array, i: number): Buffer {
  const img = new PNG({ width: 28, height: 28, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const grey = Buffer.alloc(784);
  for (let p = 0; p < 784; p++) grey[p] = Math.round(x[i * 784 + p]! * 255);
  img.data = grey;
  return PNG.sync.write(img, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

const recipe = (data: string, over: Parameters<typeof tinyRecipe>[0] = {}) =>
  tinyRecipe(over).replace('  eval: { dataset: mnist, split: test, limit: 300 }', data);
const build = (file: string, ...args: string[]) => runCli(['build', file, '--backend', 'wasm', ...args], { cwd: work });
const report = (out: string) => JSON.parse(readFileSync(join(work, out, 'report.json'), 'utf8')) as Report;

beforeAll(async () => {
  const digits = await loadMnist('test', SAMPLES);
  const uint8 = new Uint8Array(SAMPLES * 784);
  for (let i = 0; i < SAMPLES; i++) {
    // Labelled: digits/<class>/<index>.png; the files sort in sample order, so the folder reads in mnist's order.
    writeText(join(work, 'data', 'digits', String(digits.y[i]), `${String(i).padStart(4, '0')}.png`), '');
    writeFileSync(
      join(work, 'data', 'digits', String(digits.y[i]), `${String(i).padStart(4, '0')}.png`),
      digitPng(digits.x, i),
    );
    writeText(join(work, 'data', 'unlabelled', `${String(i).padStart(4, '0')}.png`), '');
    writeFileSync(join(work, 'data', 'unlabelled', `${String(i).padStart(4, '0')}.png`), digitPng(digits.x, i));
    for (let p = 0; p < 784; p++) uint8[i * 784 + p] = Math.round(digits.x[i * 784 + p]! * 255);
  }
  const labels = new BigInt64Array(Array.from(digits.y, (v) => BigInt(v)));
  const archive = zipSync(
    {
      'x_test.npy': npyBytes('|u1', [SAMPLES, 28, 28, 1], uint8),
      'y_test.npy': npyBytes('<i8', [SAMPLES], new Uint8Array(labels.buffer)),
    },
    { level: 6 },
  );
  writeFileSync(join(work, 'data', 'digits.npz'), archive);
  writeText(
    join(work, 'mnist.yaml'),
    recipe(`  eval: { dataset: mnist, split: test, limit: ${SAMPLES} }`, { output: './out-mnist' }),
  );
}, 60_000);

describe('datasets beyond mnist, through the CLI', () => {
  it('an image folder and an .npz of the same digits measure exactly what the mnist dataset does', async () => {
    const base = await build('mnist.yaml');
    expect(base.code, base.all).toBe(0);
    writeText(
      join(work, 'images.yaml'),
      recipe('  eval: { dataset: images, path: ./data/digits, channels: 1, scale: 0.00392156862745098, offset: 0 }', {
        output: './out-images',
      }),
    );
    const images = await build('images.yaml');
    expect(images.code, images.all).toBe(0);
    expect(images.all).toMatch(/evaluate baseline on images digits/);
    writeText(
      join(work, 'npz.yaml'),
      recipe('  eval: { dataset: npz, path: ./data/digits.npz, x: x_test, y: y_test, scale: 0.00392156862745098 }', {
        output: './out-npz',
      }),
    );
    const arrays = await build('npz.yaml');
    expect(arrays.code, arrays.all).toBe(0);
    // The baseline was trained once (mnist.yaml) and reused: only the evaluations ran.
    expect(images.all).toMatch(/baseline.*cache/i);
    const [m, i, z] = [report('out-mnist'), report('out-images'), report('out-npz')];
    for (const r of [i, z]) {
      expect(r.metrics.baseline.count).toBe(SAMPLES);
      expect(r.metrics.baseline.accuracy).toBe(m.metrics.baseline.accuracy);
      expect(r.metrics.result.accuracy).toBe(m.metrics.result.accuracy);
      expect(r.metrics.result.perClass).toHaveLength(10);
      expect(r.metrics.result.fidelity!.agreement).toBeGreaterThan(0.97);
    }
  }, 180_000);

  it('label-free data: fidelity gates pass (exit 0) or fail (exit 1); no accuracy anywhere in the reports', async () => {
    const data = '  eval: { dataset: images, path: ./data/unlabelled, channels: 1 }';
    writeText(
      join(work, 'free.yaml'),
      recipe(data, { thresholds: '  fidelity: { minAgreement: 0.9 }', output: './out-free' }),
    );
    const pass = await build('free.yaml', '--reporter', `junit=${join(work, 'free.xml')}`);
    expect(pass.code, pass.all).toBe(0);
    expect(pass.all).toMatch(/accuracy\s+n\/a\s+n\/a\s+no labels: fidelity only/);
    expect(pass.all).toMatch(/PASS\s+fidelity\.minAgreement/);
    const r = report('out-free');
    expect(r.metrics.result.accuracy).toBeUndefined();
    expect(r.metrics.result.correct).toBeUndefined();
    expect(r.metrics.result.count).toBe(SAMPLES);
    expect(r.metrics.result.fidelity!.agreement).toBeGreaterThan(0.9);
    expect(r.metrics.result.paired).toBeUndefined();
    const xml = readFileSync(join(work, 'free.xml'), 'utf8');
    expect(xml).not.toMatch(/name="result\.accuracy"/);
    expect(xml).toMatch(/<property name="result\.agreement" value="[0-9.]+"\/>/);
    const md = await runCli(['report', join(work, 'out-free'), '--format', 'markdown'], { cwd: work });
    expect(md.code, md.all).toBe(0);
    expect(md.stdout).toMatch(/\| accuracy \| n\/a \| n\/a \| no labels: fidelity only \|/);
    // The same cached steps, re-gated: uint8 weights do not keep the outputs within 1e-12 nats.
    const fail = await build('free.yaml', '--set', 'thresholds.fidelity.maxMeanKl=1e-12');
    expect(fail.code, fail.all).toBe(1);
    expect(fail.all).toMatch(/FAIL\s+fidelity\.maxMeanKl: mean KL\(baseline ‖ result\) is/);
  }, 120_000);

  it('label-free data where labels are needed is refused before anything runs, at the recipe line (exit 2); distill with alpha 0 learns from the teacher alone', async () => {
    const data = '  eval: { dataset: npz, path: ./data/digits.npz, x: x_test, labels: false }';
    writeText(
      join(work, 'acc.yaml'),
      recipe(data, { thresholds: '  size: { minRatio: 2 }\n  accuracy: { maxDrop: 0.01 }', output: './out-acc' }),
    );
    const acc = await build('acc.yaml');
    expect(acc.code, acc.all).toBe(2);
    expect(acc.stderr).toMatch(
      /MCB_RECIPE_INVALID: `thresholds\.accuracy\.maxDrop` at acc\.yaml:\d+:\d+ needs labels, but data\.eval \(npz digits\.npz\/x_test, set at acc\.yaml:\d+:\d+\) has no labels, so accuracy cannot be measured/,
    );
    expect(acc.stderr).toMatch(/fidelity: \{ minAgreement/);
    expect(stackLines(acc.all)).toEqual([]);
    writeText(
      join(work, 'named.yaml'),
      recipe(data, {
        thresholds: '  metrics:\n    agreement: { min: 0.5 }\n    worstClassAccuracy: { maxDrop: 0.05 }',
        output: './out-named',
      }),
    );
    const named = await build('named.yaml');
    expect(named.code, named.all).toBe(2);
    expect(named.stderr).toMatch(
      /`thresholds\.metrics\.worstClassAccuracy` at named\.yaml:\d+:\d+ needs labels, but data\.eval .* has no labels, so worstClassAccuracy cannot be measured/,
    );
    // finetune learns from the baseline without labels; mixing labels in (teacherWeight below 1) needs them.
    const finetune = (options: string) =>
      recipe(
        `  eval: { dataset: mnist, split: test, limit: 50 }\n  train: { dataset: images, path: ./data/unlabelled, channels: 1 }`,
        { passes: `  - finetune: ${options}`, output: './out-ft' },
      );
    writeText(join(work, 'finetune.yaml'), finetune('{ epochs: 1, teacherWeight: 0.5 }'));
    const ft = await build('finetune.yaml');
    expect(ft.code, ft.all).toBe(2);
    expect(ft.stderr).toMatch(
      /the finetune pass at finetune\.yaml:\d+:\d+ trains on the labels of data\.train \(teacherWeight below 1 mixes them in\), but data\.train \(images unlabelled, set at finetune\.yaml:\d+:\d+\) has none\. .*or remove `teacherWeight`/,
    );
    writeText(join(work, 'finetune.yaml'), finetune('{ epochs: 1 }'));
    const fromTeacher = await build('finetune.yaml');
    expect(fromTeacher.code, fromTeacher.all).toBe(0);
    const ftStats = (report('out-ft') as { passes: { stats: { teacher?: unknown } }[] }).passes[0]!.stats;
    expect(ftStats.teacher).toMatchObject({ model: 'baseline', loss: 'kl', weight: 1 });
    // distill reads labels through alpha; with alpha 0 the student learns from the teacher alone.
    const distill = (alpha: number) =>
      recipe(
        `  eval: { dataset: images, path: ./data/unlabelled, channels: 1 }\n  train: { dataset: images, path: ./data/unlabelled, channels: 1 }`,
        {
          passes: `  - distill: { alpha: ${alpha}, epochs: 30, learningRate: 0.01, student: { architecture: mlp, options: { hidden: [8] } } }`,
          thresholds: '  fidelity: { minAgreement: 0.6 }',
          output: './out-distill',
        },
      );
    writeText(join(work, 'distill.yaml'), distill(0.1));
    const soft = await build('distill.yaml');
    expect(soft.code, soft.all).toBe(2);
    expect(soft.stderr).toMatch(
      /the distill pass at distill\.yaml:\d+:\d+ weighs a cross-entropy on labels \(alpha, or compareAlone\), but data\.train .* has none\. .*or set `alpha: 0`/,
    );
    writeText(join(work, 'distill.yaml'), distill(0));
    const teacherOnly = await build('distill.yaml');
    expect(teacherOnly.code, teacherOnly.all).toBe(0);
    expect(report('out-distill').metrics.result.params).toBe(784 * 8 + 8 + 90);
    writeText(
      join(work, 'train.yaml'),
      recipe(
        `  eval: { dataset: mnist, split: test, limit: 50 }\n  train: { dataset: images, path: ./data/unlabelled, channels: 1 }`,
        { model: '  train: { architecture: mlp, options: { hidden: [8] } }', output: './out-train' },
      ),
    );
    const train = await build('train.yaml');
    expect(train.code, train.all).toBe(2);
    expect(train.stderr).toMatch(
      /`model\.train` at train\.yaml:\d+:\d+ trains a classifier on labels, but its data \(images unlabelled, set at train\.yaml:\d+:\d+\) has none/,
    );
  }, 120_000);

  it("a file dataset's step keys follow its content; a bad folder fails the plan naming the file (exit 2)", async () => {
    const keys = async () => {
      const r = await runCli(['plan', 'images.yaml', '--format', 'json', '--backend', 'wasm'], { cwd: work });
      expect(r.code, r.all).toBe(0);
      return Object.fromEntries(
        (JSON.parse(r.stdout) as { steps: { id: string; key: string }[] }).steps.map((s) => [s.id, s.key]),
      );
    };
    const before = await keys();
    const file = join(work, 'data', 'digits', '0', '0000.png');
    const original = readFileSync(file);
    const img = PNG.sync.read(original);
    img.data[0] = 255 - img.data[0]!;
    writeFileSync(file, PNG.sync.write(img));
    const after = await keys();
    expect(after.baseline).toBe(before.baseline);
    expect(after['eval-baseline']).not.toBe(before['eval-baseline']);
    expect(after['eval-result']).not.toBe(before['eval-result']);
    writeFileSync(file, original);
    expect(await keys()).toEqual(before);
    writeFileSync(join(work, 'data', 'digits', '3', 'notes.txt'), 'hi');
    const bad = await runCli(['plan', 'images.yaml'], { cwd: work });
    rmSync(join(work, 'data', 'digits', '3', 'notes.txt'));
    expect(bad.code, bad.all).toBe(2);
    expect(bad.stderr).toMatch(
      /MCB_DATASET: .*digits\/3\/notes\.txt is not an image mcbuild reads .* \(the data is set by `data\.eval` at images\.yaml:\d+:\d+\)/,
    );
    expect(stackLines(bad.all)).toEqual([]);
  }, 60_000);

  it('class folders fewer than the model outputs, labels beyond them: refused with the fix, no stack (exit 2)', async () => {
    cpSync(join(work, 'data', 'digits', '0'), join(work, 'data', 'two', '0'), { recursive: true });
    cpSync(join(work, 'data', 'digits', '1'), join(work, 'data', 'two', '1'), { recursive: true });
    writeText(
      join(work, 'two.yaml'),
      recipe('  eval: { dataset: images, path: ./data/two, channels: 1 }', { output: './out-two' }),
    );
    const r = await build('two.yaml');
    expect(r.code, r.all).toBe(2);
    expect(r.stderr).toMatch(
      /MCB_MODEL_INVALID: .*the model's output \S+ has shape \[1, 10\] but images:data\/two has 2 classes; .*Give the image folder one class folder per model output, .*or read it label-free \(`labels: false`\)/,
    );
    expect(stackLines(r.all)).toEqual([]);
    // Labels beyond the model's outputs: the hint is to fix the labels, not to raise numClasses.
    const x = new Uint8Array(4 * 784);
    writeFileSync(
      join(work, 'data', 'big-label.npz'),
      zipSync({
        'x.npy': npyBytes('|u1', [4, 28, 28, 1], x),
        'y.npy': npyBytes('|u1', [4], new Uint8Array([0, 1, 2, 15])),
      }),
    );
    writeText(
      join(work, 'big-label.yaml'),
      recipe('  eval: { dataset: npz, path: ./data/big-label.npz }', { output: './out-big-label' }),
    );
    const big = await build('big-label.yaml');
    expect(big.code, big.all).toBe(2);
    expect(big.stderr).toMatch(
      /has 16 classes \(its largest label is 15, beyond the model's 10 outputs: fix the labels/,
    );
    expect(big.stderr).not.toMatch(/set `numClasses` if the model has more/);
  }, 120_000);

  it('data paths are relative to the recipe file that writes them, through extends', async () => {
    writeText(join(work, 'bases', 'data.yaml'), 'data:\n  eval: { dataset: npy, x: ../data/x.npy, y: ./y.npy }\n');
    writeText(join(work, 'child.yaml'), `extends: ./bases/data.yaml\n${tinyRecipe().replace(/data:\n.*\n/, '')}`);
    const r = await loadRecipe(join(work, 'child.yaml'));
    expect(r.data.eval).toMatchObject({
      dataset: 'npy',
      x: join(work, 'data', 'x.npy'),
      y: join(work, 'bases', 'y.npy'),
      scale: 1,
      offset: 0,
    });
    expect((r.document.data as { eval: { x: string } }).eval.x).toBe(join(work, 'data', 'x.npy'));
    // Watch mode rebuilds when a data file (or anything in an image folder) changes.
    expect(await recipeInputs(r)).toEqual(
      expect.arrayContaining([join(work, 'data', 'x.npy'), join(work, 'bases', 'y.npy')]),
    );
    expect(await recipeInputs(await loadRecipe(join(work, 'images.yaml')))).toContain(join(work, 'data', 'digits'));
    // A schema error names the place and what the kind allows.
    writeText(
      join(work, 'typo.yaml'),
      tinyRecipe().replace(
        '  eval: { dataset: mnist, split: test, limit: 300 }',
        '  eval: { dataset: images, path: ./data/digits, chanels: 1 }',
      ),
    );
    await expect(loadRecipe(join(work, 'typo.yaml'))).rejects.toThrow(
      /`data\.eval` has an unknown key `chanels` at .*typo\.yaml:\d+:\d+ \(did you mean `channels`\?\); allowed keys: dataset, path, split, limit, size, channels, classes, labels, scale, offset, mean, std/,
    );
    writeText(
      join(work, 'nopath.yaml'),
      tinyRecipe().replace('  eval: { dataset: mnist, split: test, limit: 300 }', '  eval: { dataset: npz, x: a }'),
    );
    await expect(loadRecipe(join(work, 'nopath.yaml'))).rejects.toThrow(
      /`data\.eval\.path` is required at .*nopath\.yaml:\d+:\d+/,
    );
  });
});
