/**
 * End-to-end: the `shard` pass through the built CLI. The same model written with 1 kB, 64 kB and 4 MB
 * shards holds the same weight bytes, predicts the same through mcbuild's evaluator and through stock TF.js.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { readModelDir } from '../../src/model/index.js';
import { loadEngine, loadForInference } from '../../src/engine/runtime.js';
import { ROOT, runCli, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
// 784-100-10: 79,510 weights, 159,020 bytes as float16, so 64 kB gives 3 shards and 1 kB gives 160.
const model = `  train:
    architecture: mlp
    options: { hidden: [100] }
    dataset: mnist
    limit: 800
    epochs: 1
    batchSize: 32
    seed: 3`;
const SIZES = { '1kB': 1000, '64kB': 64_000, '4MB': 4_000_000 } as const;
type Size = keyof typeof SIZES;
const WEIGHT_BYTES = 79_510 * 2;

/** `shard` first, then a pass that rebuilds the weights: the size must survive it. */
const recipeFor = (size: string, out: string, shardLast = false) =>
  tinyRecipe({
    model,
    output: `./${out}`,
    passes: shardLast
      ? `  - quantize: { dtype: float16 }\n  - shard: { shardBytes: ${size} }`
      : `  - shard: { shardBytes: ${size} }\n  - quantize: { dtype: float16 }`,
  });

const builds = {} as Record<Size, CliRun>;
const shardsOf = (out: string) => readdirSync(join(dir, out)).filter((f) => f.endsWith('.bin'));
const report = (out: string) => JSON.parse(readFileSync(join(dir, out, 'report.json'), 'utf8'));
/** The weight bytes as TF.js sees them: the shards of model.json's manifest, concatenated in order. */
const weightBytes = (out: string) => {
  const json = JSON.parse(readFileSync(join(dir, out, 'model.json'), 'utf8'));
  return Buffer.concat(json.weightsManifest[0].paths.map((p: string) => readFileSync(join(dir, out, p))));
};

beforeAll(async () => {
  for (const size of Object.keys(SIZES) as Size[]) {
    const file = writeText(join(dir, `shard-${size}.yaml`), recipeFor(size, `out-${size}`));
    builds[size] = await runCli([file, '--cache-dir', cacheDir], { cwd: dir });
  }
});

describe('the shard pass', () => {
  it('builds at every size, training the baseline once', () => {
    for (const size of Object.keys(SIZES) as Size[]) {
      expect(builds[size].stderr).not.toMatch(/internal error/);
      expect(builds[size].code, builds[size].all).toBe(0);
    }
    expect(builds['1kB'].stderr).toMatch(/\[run\]\s+baseline:/);
    expect(builds['64kB'].stderr).toMatch(/\[cached\] baseline:/);
    expect(builds['1kB'].stderr).toMatch(/\[run\]\s+pass-1-shard: shard \(shardBytes=1000\)/);
  });

  it('cuts the weights at every multiple of shardBytes, through the quantize pass after it', () => {
    for (const [size, bytes] of Object.entries(SIZES) as [Size, number][]) {
      const n = Math.ceil(WEIGHT_BYTES / bytes);
      const shards = shardsOf(`out-${size}`);
      expect(shards).toHaveLength(n);
      const json = JSON.parse(readFileSync(join(dir, `out-${size}`, 'model.json'), 'utf8'));
      expect(json.weightsManifest[0].paths).toEqual(
        Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`),
      );
      json.weightsManifest[0].paths.forEach((p: string, i: number) => {
        expect(readFileSync(join(dir, `out-${size}`, p)).byteLength).toBe(
          i < n - 1 ? bytes : WEIGHT_BYTES - bytes * (n - 1),
        );
      });
      // report.json lists the same files that were exported.
      expect(report(`out-${size}`).metrics.result.files.map((f: { name: string }) => f.name)).toEqual([
        'model.json',
        ...json.weightsManifest[0].paths,
      ]);
    }
    expect(shardsOf('out-64kB')).toHaveLength(3);
    expect(shardsOf('out-1kB')).toHaveLength(160);
  });

  it('changes no weight byte and no weight spec', () => {
    const ref = weightBytes('out-4MB');
    expect(ref.byteLength).toBe(WEIGHT_BYTES);
    const specs = (out: string) =>
      JSON.parse(readFileSync(join(dir, out, 'model.json'), 'utf8')).weightsManifest[0].weights;
    for (const size of ['1kB', '64kB'] as const) {
      expect(weightBytes(`out-${size}`).equals(ref)).toBe(true);
      expect(specs(`out-${size}`)).toEqual(specs('out-4MB'));
    }
    const [a, b, c] = (['1kB', '64kB', '4MB'] as const).map((s) => report(`out-${s}`).metrics.result);
    expect(a.correct).toBe(c.correct);
    expect(b.correct).toBe(c.correct);
    expect(a.accuracy).toBe(c.accuracy);
  });

  it("predicts byte-identically through mcbuild's evaluator at every size", async () => {
    await loadEngine('wasm');
    const test = await loadMnist('test', 300);
    const predictions = [];
    for (const size of Object.keys(SIZES) as Size[]) {
      const { model: stored } = await readModelDir(join(dir, `out-${size}`, 'model.json'));
      expect(stored.shardBytes).toBe(size === '4MB' ? undefined : SIZES[size]);
      const m = await loadForInference(tf, stored);
      const x = tf.tensor(test.x, [300, 28, 28, 1]);
      const y = m.predict(x);
      predictions.push(Buffer.from((await y.data<'float32'>()).buffer));
      tf.dispose([x, y]);
      m.dispose();
    }
    expect(predictions[0]!.equals(predictions[2]!)).toBe(true);
    expect(predictions[1]!.equals(predictions[2]!)).toBe(true);
  });

  it('loads with stock TF.js at every size and predicts the same classes, as measured', async () => {
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const classes = (Object.keys(SIZES) as Size[]).map((size) => {
      const stdout = execFileSync(
        process.execPath,
        [join(ROOT, 'test/load-model.mjs'), join(dir, `out-${size}`), 'stock', 'layers', inputs, '300', '28,28,1'],
        { cwd: ROOT },
      ).toString();
      return (JSON.parse(stdout) as { classes: number[] }).classes;
    });
    expect(classes[0]).toEqual(classes[2]);
    expect(classes[1]).toEqual(classes[2]);
    expect(classes[2]!.filter((c, i) => c === test.y[i]).length).toBe(report('out-4MB').metrics.result.correct);
  });

  it('gives the same files whether it comes before or after the pass that rewrites the weights', async () => {
    const file = writeText(join(dir, 'shard-last.yaml'), recipeFor('1kB', 'out-last', true));
    const r = await runCli([file, '--cache-dir', cacheDir], { cwd: dir });
    expect(r.code, r.all).toBe(0);
    const models = (out: string) =>
      readdirSync(join(dir, out))
        .filter((f) => f === 'model.json' || f.endsWith('.bin'))
        .sort();
    expect(models('out-last')).toEqual(models('out-1kB'));
    for (const f of models('out-1kB').filter((f) => f !== 'model.json'))
      expect(readFileSync(join(dir, 'out-last', f)).equals(readFileSync(join(dir, 'out-1kB', f)))).toBe(true);
    // model.json names its own recipe's provenance (two recipes, two records); the rest of it is the same.
    const modelJson = (out: string) => {
      const json = JSON.parse(readFileSync(join(dir, out, 'model.json'), 'utf8'));
      expect(json.userDefinedMetadata.mcbuild.provenance).toMatch(/^sha256:[0-9a-f]{64}$/);
      delete json.userDefinedMetadata.mcbuild.provenance;
      return json;
    };
    expect(modelJson('out-last')).toEqual(modelJson('out-1kB'));
  });

  it('refuses a shard size under 1 kB before running anything', async () => {
    const file = writeText(join(dir, 'tiny-shards.yaml'), recipeFor('512', 'out-bad'));
    const r = await runCli(['validate', file], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.all).toMatch(
      /`passes\[0\]\.shard\.shardBytes` is 512 bytes at \S*tiny-shards\.yaml:\d+:\d+; shards must hold at least 1 kB \(1000 bytes\)/,
    );
  });
});
