import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import {
  paramCount,
  readModelDir,
  type StoredModel,
  Topology,
  decodeWeights,
  encodeWeights,
} from '../../src/model/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { build, McbError, planBuild } from '../../src/index.js';
import { recordedWeights, withRecordedWeights } from '../../src/passes/constraints.js';
import type { PassContext } from '../../src/passes/index.js';
import { lowrank, type DecomposedLayer, type LowrankOptions } from '../../src/passes/lowrank/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const place = { path: ['passes', 0, 'lowrank'], at: (o?: string) => `r.yaml:3:${o === undefined ? 5 : o.length}` };
const ctx: PassContext = {
  engine: () => loadEngine('wasm'),
  data: () => Promise.reject(new Error('lowrank reads no data')),
  signal: new AbortController().signal,
  progress: () => {},
};

beforeAll(async () => {
  await loadEngine('wasm');
});

/** A seeded m×n matrix of bell-shaped values (sum of uniforms), like an untrained kernel. */
function bell(m: number, n: number, seed: number, scale = 0.1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: m * n }, () => (random() + random() + random() + random() - 2) * scale);
}

/** P (m×k) · Q (k×n) of bell-shaped factors: a random matrix of rank k (almost surely). */
function ofRank(m: number, n: number, k: number, seed: number): Float32Array {
  const p = bell(m, k, seed, 1);
  const q = bell(k, n, seed + 1, 1);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let c = 0; c < k; c++) for (let j = 0; j < n; j++) out[i * n + j]! += p[i * k + c]! * q[c * n + j]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The pass on real TF.js models

const options = (raw: Record<string, unknown>): LowrankOptions => lowrank.resolveOptions(raw, place);
/** The pass's declared statistics (report.json's `passes[].stats`), which every run below is checked against. */
const declaredStats = new Ajv2020({ strict: true, allErrors: true }).compile(lowrank.meta.stats);

const run = async (model: StoredModel, raw: Record<string, unknown>) => {
  const r = await lowrank.apply(model, options(raw), ctx);
  expect(declaredStats(JSON.parse(JSON.stringify(r.stats))), JSON.stringify(declaredStats.errors)).toBe(true);
  return r;
};

/** Sets a layer's kernel (and bias) of a live TF.js model. */
function setKernel(model: tf.LayersModel, name: string, kernel: Float32Array, bias?: Float32Array): void {
  const layer = model.getLayer(name);
  const [k, b] = layer.getWeights();
  layer.setWeights([tf.tensor(kernel, k!.shape), ...(b ? [bias ? tf.tensor(bias, b.shape) : b] : [])]);
}

/** Predictions of a stored model on `x` (the tensors are released). */
async function predict(model: StoredModel, x: tf.Tensor): Promise<Float32Array> {
  const m = await toLayersModel(tf, model);
  const y = m.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  y.dispose();
  m.dispose();
  return out;
}

/** max |a − b| / max |b|. */
function relativeDiff(a: Float32Array, b: Float32Array): number {
  expect(a).toHaveLength(b.length);
  let d = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return d / scale;
}

const specsOf = (m: StoredModel) => m.weightSpecs.map((s) => [s.name, s.shape]);

describe('lowrank options', () => {
  it('takes exactly one of rank, ratio and energy, and an optional list of layers', () => {
    expect(options({ ratio: 0.25 })).toEqual({ ratio: 0.25 });
    expect(options({ rank: 32, layers: ['fc_1'] })).toEqual({ rank: 32, layers: ['fc_1'] });
    expect(options({ energy: 0.95 })).toEqual({ energy: 0.95 });
    expect(() => options({})).toThrow(McbError);
    expect(() => options({})).toThrow(
      /^`passes\[0\]\.lowrank` needs a rank rule at r\.yaml:3:5; set exactly one of `rank: r` \(a fixed rank\), `ratio: 0\.25`/,
    );
    expect(() => options({ rank: 8, ratio: 0.5 })).toThrow(
      /^`passes\[0\]\.lowrank` sets rank and ratio at r\.yaml:3:5; keep exactly one of rank, ratio and energy\.$/,
    );
    expect(() => options({ rank: 0 })).toThrow(
      /^`passes\[0\]\.lowrank\.rank` must be a positive integer .* \(got 0\) at r\.yaml:3:4\.$/,
    );
    expect(() => options({ rank: -3 })).toThrow(/\(got -3\) at r\.yaml:3:4/);
    expect(() => options({ ratio: 1 })).toThrow(
      /^`passes\[0\]\.lowrank\.ratio` must be a number greater than 0 and less than 1 \(the fraction of each layer's parameters kept\) \(got 1\) at r\.yaml:3:5\.$/,
    );
    expect(() => options({ energy: 0, layers: ['a'] })).toThrow(
      /`passes\[0\]\.lowrank\.energy` must be a number greater than 0 and less than 1/,
    );
    expect(() => options({ ratio: 0.5, layers: [] })).toThrow(
      /^`passes\[0\]\.lowrank\.layers` must be a non-empty list of layer names \(got \[\]\) at r\.yaml:3:6\.$/,
    );
  });
});

describe('lowrank on a Sequential model (Dense first)', () => {
  // fc: 64→8 (relu) with a kernel of rank 7; out: 8→3 (linear) of rank 2. Both are rank min−1 and
  // r·(m + n) < m·n, so the decomposition at that rank is exact (up to float32 rounding).
  let input: StoredModel;
  beforeAll(async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [64], units: 8, activation: 'relu', name: 'fc' }),
        tf.layers.dense({ units: 3, name: 'out' }),
      ],
    });
    setKernel(m, 'fc', ofRank(64, 8, 7, 11), bell(1, 8, 12, 1));
    setKernel(m, 'out', ofRank(8, 3, 2, 13), bell(1, 3, 14, 1));
    input = await fromLayersModel(tf, m);
    m.dispose();
  });

  it('r = min − 1 on rank-deficient kernels reproduces the outputs within 1e-4; shapes and parameter counts exact', async () => {
    const before = tf.memory().numTensors;
    const { model, stats } = await run(input, { energy: 0.999999 });
    expect(tf.memory().numTensors).toBe(before); // pure JS: no tensors
    expect(
      (stats.decomposed as DecomposedLayer[]).map((d) => [d.layer, d.matrix, d.rank, d.paramsBefore, d.paramsAfter]),
    ).toEqual([
      ['fc', [64, 8], 7, 520, 7 * 72 + 8],
      ['out', [8, 3], 2, 27, 2 * 11 + 3],
    ]);
    expect(specsOf(model)).toEqual([
      ['fc_lr1/kernel', [64, 7]],
      ['fc_lr2/kernel', [7, 8]],
      ['fc_lr2/bias', [8]],
      ['out_lr1/kernel', [8, 2]],
      ['out_lr2/kernel', [2, 3]],
      ['out_lr2/bias', [3]],
    ]);
    expect(paramCount(model)).toBe(7 * 72 + 8 + 2 * 11 + 3);
    expect(stats).toMatchObject({ paramsBefore: 547, paramsAfter: 537, layersDecomposed: 2, layersSkipped: 0 });
    // The Sequential's input declaration moved to the first new layer; the second carries bias and activation.
    const t = Topology.fromModel(model.json);
    expect(t.names()).toEqual(['fc_lr1', 'fc_lr2', 'out_lr1', 'out_lr2']);
    expect(t.config('fc_lr1')).toMatchObject({
      units: 7,
      use_bias: false,
      activation: 'linear',
      batch_input_shape: [null, 64],
    });
    expect(t.config('fc_lr2')).toMatchObject({ units: 8, use_bias: true, activation: 'relu' });
    expect(t.config('fc_lr2').batch_input_shape).toBeUndefined();
    expect(t.config('out_lr2')).toMatchObject({ units: 3, activation: 'linear' });

    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 5);
    const loaded = await toLayersModel(tf, model);
    expect(loaded.countParams()).toBe(537);
    loaded.dispose();
    expect(relativeDiff(await predict(model, x), await predict(input, x))).toBeLessThan(1e-4);
    x.dispose();
  });

  it('refuses r = min(m, n) for a named layer, and a rank no layer takes, naming the layer and the limits', async () => {
    const err = await run(input, { rank: 8, layers: ['fc'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McbError);
    expect((err as McbError).code).toBe('MCB_RECIPE_INVALID');
    expect((err as McbError).message).toBe(
      '`passes[0].lowrank.rank` (8, at r.yaml:3:4) is not below min(m, n) of layer fc (Dense, kernel 64×8, min 8), which takes ranks 1..7 (1..7 make it smaller); lower `rank`, or remove fc from `layers`.',
    );
    await expect(run(input, { rank: 9 })).rejects.toThrow(
      '`passes[0].lowrank.rank` (9, at r.yaml:3:4) is not below min(m, n) of any layer of the model: the largest, layer fc (Dense, kernel 64×8, min 8), which takes ranks 1..7 (1..7 make it smaller); lower `rank`, or name the layers to decompose with `layers`.',
    );
    // Taken implicitly, a layer the rank does not fit is skipped with the reason, the others decomposed.
    const { stats } = await run(input, { rank: 5 });
    expect(stats.skipped).toEqual([{ layer: 'out', className: 'Dense', reason: 'rank 5 is not below min(8, 3) = 3' }]);
    expect((stats.decomposed as DecomposedLayer[]).map((d) => d.layer)).toEqual(['fc']);
  });

  it('decomposes only the named layers; the others keep their weights byte for byte', async () => {
    const { model } = await run(input, { rank: 7, layers: ['fc'] });
    expect(specsOf(model).map(([n]) => n)).toEqual([
      'fc_lr1/kernel',
      'fc_lr2/kernel',
      'fc_lr2/bias',
      'out/kernel',
      'out/bias',
    ]);
    const get = (m: StoredModel, n: string) => Array.from(decodeWeights(m).find((w) => w.spec.name === n)!.values);
    expect(get(model, 'out/kernel')).toEqual(get(input, 'out/kernel'));
    expect(get(model, 'fc_lr2/bias')).toEqual(get(input, 'fc/bias'));
    const x = tf.randomNormal([16, 64], 0, 1, 'float32', 6);
    expect(relativeDiff(await predict(model, x), await predict(input, x))).toBeLessThan(1e-4);
    x.dispose();
  });
});

describe('lowrank on a functional model with Conv2D', () => {
  // in [9, 9, 16] → conv_a (4 filters, 3×3, stride 2, same, relu; kernel 144×4 of rank 3) → conv_b (6, 3×3,
  // dilation 2, valid; 36×6 of rank 5) → flatten ┐
  //                        conv_a → gap (global average pool) ┴→ concat → head (Dense 10→2, rank 1)
  let input: StoredModel;
  beforeAll(async () => {
    const x = tf.input({ shape: [9, 9, 16], name: 'image' });
    const a = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv_a' })
      .apply(x) as tf.SymbolicTensor;
    const b = tf.layers
      .conv2d({ filters: 6, kernelSize: 3, dilationRate: 2, padding: 'valid', name: 'conv_b' })
      .apply(a) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({ name: 'flat' }).apply(b) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(a) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([flat, gap]) as tf.SymbolicTensor;
    const head = tf.layers.dense({ units: 2, name: 'head' }).apply(cat) as tf.SymbolicTensor;
    const m = tf.model({ inputs: x, outputs: head });
    setKernel(m, 'conv_a', ofRank(144, 4, 3, 21), bell(1, 4, 22, 1));
    setKernel(m, 'conv_b', ofRank(36, 6, 5, 23), bell(1, 6, 24, 1));
    setKernel(m, 'head', ofRank(10, 2, 1, 25), bell(1, 2, 26, 1));
    input = await fromLayersModel(tf, m);
    m.dispose();
  });

  it('a k×k conv with r filters (strides, padding, dilation kept) then a 1×1 conv: same outputs, exact shapes and params, rewired consumers', async () => {
    const { model, stats } = await run(input, { energy: 0.999999 });
    expect(
      (stats.decomposed as DecomposedLayer[]).map((d) => [d.layer, d.className, d.matrix, d.rank, d.into]),
    ).toEqual([
      ['conv_a', 'Conv2D', [144, 4], 3, ['conv_a_lr1', 'conv_a_lr2']],
      ['conv_b', 'Conv2D', [36, 6], 5, ['conv_b_lr1', 'conv_b_lr2']],
      ['head', 'Dense', [10, 2], 1, ['head_lr1', 'head_lr2']],
    ]);
    for (const d of stats.decomposed as DecomposedLayer[]) {
      expect(d.energyKept).toBeGreaterThan(1 - 1e-12);
      expect(d.relativeError).toBeLessThan(1e-6);
    }
    expect(specsOf(model)).toEqual([
      ['conv_a_lr1/kernel', [3, 3, 16, 3]],
      ['conv_a_lr2/kernel', [1, 1, 3, 4]],
      ['conv_a_lr2/bias', [4]],
      ['conv_b_lr1/kernel', [3, 3, 4, 5]],
      ['conv_b_lr2/kernel', [1, 1, 5, 6]],
      ['conv_b_lr2/bias', [6]],
      ['head_lr1/kernel', [10, 1]],
      ['head_lr2/kernel', [1, 2]],
      ['head_lr2/bias', [2]],
    ]);
    const expected = 3 * (144 + 4) + 4 + 5 * (36 + 6) + 6 + 1 * (10 + 2) + 2;
    expect(paramCount(model)).toBe(expected);
    expect(stats.paramsAfter).toBe(expected);
    const t = Topology.fromModel(model.json);
    expect(t.config('conv_a_lr1')).toMatchObject({
      filters: 3,
      kernel_size: [3, 3],
      strides: [2, 2],
      padding: 'same',
      use_bias: false,
      activation: 'linear',
    });
    expect(t.config('conv_a_lr2')).toMatchObject({
      filters: 4,
      kernel_size: [1, 1],
      strides: [1, 1],
      padding: 'valid',
      use_bias: true,
      activation: 'relu',
    });
    expect(t.config('conv_b_lr1')).toMatchObject({ filters: 5, dilation_rate: [2, 2], padding: 'valid' });
    // both consumers of conv_a now read conv_a_lr2; the model output is head_lr2
    expect(t.inbound('conv_a_lr1')).toEqual(['image']);
    expect(t.consumers('conv_a_lr2')).toEqual(['conv_b_lr1', 'gap']);
    expect(t.outputs()).toEqual(['head_lr2']);
    expect(t.outputShape('conv_a_lr2')).toEqual([null, 5, 5, 4]);

    const loaded = await toLayersModel(tf, model);
    expect(loaded.countParams()).toBe(expected);
    loaded.dispose();
    const x = tf.randomNormal([8, 9, 9, 16], 0, 1, 'float32', 7);
    expect(relativeDiff(await predict(model, x), await predict(input, x))).toBeLessThan(1e-4);
    x.dispose();
  });

  it('fails for a named layer it cannot decompose or that does not exist', async () => {
    await expect(run(input, { ratio: 0.5, layers: ['gap'] })).rejects.toThrow(
      '`passes[0].lowrank.layers` at r.yaml:3:6 names layer gap (GlobalAveragePooling2D), which lowrank cannot decompose: lowrank decomposes Dense and Conv2D layers only. Remove it from `layers`; the layers lowrank can decompose are conv_a, conv_b, head.',
    );
    await expect(run(input, { ratio: 0.5, layers: ['conv_c'] })).rejects.toThrow(
      '`passes[0].lowrank.layers` at r.yaml:3:6 names layer "conv_c", which the model does not have (did you mean `conv_a`?); the layers lowrank can decompose are conv_a, conv_b, head.',
    );
  });
});

describe('lowrank on LeNet-300-100', () => {
  let input: StoredModel;
  beforeAll(async () => {
    const m = buildArchitecture(
      tf,
      'mlp',
      { hidden: [300, 100] },
      { inputShape: [28, 28, 1], numClasses: 10, seed: 3 },
    );
    input = await fromLayersModel(tf, m);
    m.dispose();
  });

  it('ratio 0.25: each layer keeps ≤ 1/4 of its parameters; the model computes x·(A·B) + b with W_r = A·B', async () => {
    const pruned = { ...input, json: withRecordedWeights(input.json, 'prunedWeights', ['fc_1/kernel', 'fc_2/kernel']) };
    const { model, stats } = await run(pruned, { ratio: 0.25 });
    const decomposed = stats.decomposed as DecomposedLayer[];
    expect(decomposed.map((d) => [d.layer, d.rank, d.paramsBefore, d.paramsAfter])).toEqual([
      ['fc_1', 54, 235_500, 54 * 1084 + 300],
      ['fc_2', 18, 30_100, 18 * 400 + 100],
      ['predictions', 2, 1010, 2 * 110 + 10],
    ]);
    for (const d of decomposed) {
      expect(d.paramsAfter).toBeLessThanOrEqual(d.paramsBefore / 4);
      // ‖W − A·B‖²/‖W‖² = 1 − kept energy (Eckart–Young), on the stored float32 factors
      expect(d.relativeError ** 2).toBeCloseTo(1 - d.energyKept, 6);
    }
    expect(stats).toMatchObject({
      paramsBefore: 266_610,
      paramsAfter: 66_366,
      released: ['fc_1/kernel', 'fc_2/kernel'],
    });
    expect(recordedWeights(model.json, 'prunedWeights')).toEqual([]);

    // Reference: the original architecture with each kernel replaced by A·B (float64 product).
    const factors = new Map(decodeWeights(model).map((w) => [w.spec.name, w.values as Float32Array]));
    const reference = encodeWeights(
      input.json,
      decodeWeights(input).map((w) => {
        const [layer, key] = w.spec.name.split('/');
        if (key !== 'kernel') return w;
        const a = factors.get(`${layer}_lr1/kernel`)!;
        const b = factors.get(`${layer}_lr2/kernel`)!;
        const [m, n] = w.spec.shape as [number, number];
        const r = a.length / m;
        const product = new Float32Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let sum = 0;
            for (let c = 0; c < r; c++) sum += a[i * r + c]! * b[c * n + j]!;
            product[i * n + j] = sum;
          }
        }
        return { spec: w.spec, values: product };
      }),
    );
    const test = await loadMnist('test', 200);
    const x = tf.tensor(test.x, [200, 28, 28, 1]);
    expect(relativeDiff(await predict(model, x), await predict(reference, x))).toBeLessThan(1e-5);
    x.dispose();
  });

  it('skips layers where the rank would not save parameters, and says why', async () => {
    const { stats } = await run(input, { rank: 80 });
    expect((stats.decomposed as DecomposedLayer[]).map((d) => d.layer)).toEqual(['fc_1']);
    expect(stats.skipped).toEqual([
      {
        layer: 'fc_2',
        className: 'Dense',
        reason:
          'rank 80 would store 32100 parameters, not fewer than the 30100 it has (ranks up to 74 reduce a 300×100 kernel)',
      },
      { layer: 'predictions', className: 'Dense', reason: 'rank 80 is not below min(100, 10) = 10' },
    ]);
    // an untrained (random) kernel has a flat spectrum: 95% of its energy needs most of its ranks
    const flat = await run(input, { energy: 0.95, layers: ['fc_2'] });
    expect(flat.stats.layersDecomposed).toBe(0);
    expect(flat.stats.skipped).toEqual([
      {
        layer: 'fc_2',
        className: 'Dense',
        reason: expect.stringMatching(
          /^energy 0\.95 needs rank \d+, which would store \d+ parameters, not fewer than the 30100 it has \(ranks up to 74 reduce a 300×100 kernel\)$/,
        ),
      },
    ]);
    // nothing replaced: the input passes through unchanged
    expect(flat.model).toBe(input);
  });
});

describe('lowrank in a recipe', () => {
  const dir = tempDir();
  const cacheDir = join(dir, 'cache');
  const recipe = (passes: string) =>
    writeText(
      join(dir, 'lr.yaml'),
      tinyRecipe({ passes, output: './out' }).replace(
        'data:\n',
        'data:\n  train: { dataset: mnist, split: train, limit: 800 }\n',
      ),
    );

  it('lowrank → finetune builds a model that stock TF.js loads in a separate process and that predicts exactly as mcbuild measured', async () => {
    const file = recipe(
      '  - lowrank: { ratio: 0.25, layers: [fc_1] }\n  - finetune: { epochs: 1, learningRate: 0.001 }',
    );
    const result = await build(file, { cacheDir, backend: 'wasm' });
    expect(result.execution.ran).toEqual([
      'baseline',
      'eval-baseline',
      'pass-1-lowrank',
      'pass-2-finetune',
      'eval-result',
    ]);
    const { baseline, result: res } = result.report.metrics as unknown as Record<
      'baseline' | 'result',
      { accuracy: number; params: number; correct: number }
    >;
    // fc_1 (784×32 + 32) at a quarter: rank 7; predictions (32×10 + 10) untouched
    expect(baseline.params).toBe(784 * 32 + 32 + 330);
    expect(res.params).toBe(7 * (784 + 32) + 32 + 330);
    expect(res.accuracy).toBeGreaterThan(0.5);
    const out = join(dir, 'out');
    const { model } = await readModelDir(join(out, 'model.json'));
    expect(Topology.fromModel(model.json).names()).toEqual(['flatten', 'fc_1_lr1', 'fc_1_lr2', 'predictions']);
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const loaded = JSON.parse(
      execFileSync(
        process.execPath,
        [join(ROOT, 'test/load-model.mjs'), out, 'stock', 'layers', inputs, '300', '28,28,1'],
        { cwd: ROOT },
      ).toString(),
    ) as { classes?: number[]; error?: string };
    expect(loaded.error).toBeUndefined();
    expect(loaded.classes!.filter((c, i) => c === test.y[i]).length).toBe(res.correct);
  });

  it('bad options fail with McbError pointing at the recipe, before or after the model is known', async () => {
    const at = (file: string, key: string) => {
      const lines = readFileSync(file, 'utf8').split('\n');
      const line = lines.findIndex((l) => l.includes('lowrank:'));
      return `${line + 1}:${lines[line]!.lastIndexOf(key) + key.length + 2}`;
    };
    let file = recipe('  - lowrank: { rank: 0 }');
    await expect(planBuild(file, { cacheDir })).rejects.toThrow(
      new RegExp(`\`passes\\[0\\]\\.lowrank\\.rank\` must be >= 1 \\(got 0\\) at .*lr\\.yaml:${at(file, 'rank:')}`),
    );
    file = recipe('  - lowrank: { rank: 4, energy: 0.9 }');
    await expect(planBuild(file, { cacheDir })).rejects.toThrow(
      new RegExp(
        `\`passes\\[0\\]\\.lowrank\` sets rank and energy at .*lr\\.yaml:${at(file, 'energy:')}; keep exactly one`,
      ),
    );
    // needs the model: the baseline comes from the cache of the test above
    file = recipe('  - lowrank: { rank: 10, layers: [predictions] }');
    const err = await build(file, { cacheDir, backend: 'wasm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McbError);
    expect((err as McbError).message).toMatch(
      new RegExp(
        `^\`passes\\[0\\]\\.lowrank\\.rank\` \\(10, at .*lr\\.yaml:${at(file, 'rank:')}\\) is not below min\\(m, n\\) of layer predictions \\(Dense, kernel 32×10, min 10\\), which takes ranks 1\\.\\.9 \\(1\\.\\.7 make it smaller\\); lower \`rank\`, or remove predictions from \`layers\`\\.$`,
      ),
    );
  });
});
