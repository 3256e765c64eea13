/**
 * prune-channels on real TF.js and real MNIST: rewired shapes and parameter counts (MobileNet v1 α=0.25 by
 * hand), function preservation when the removed channels are dead (all-zero filters) on MobileNet v1, v2
 * (residual Add groups) and a Flatten → Dense model, skipped groups with reasons, and the output loading
 * in stock TF.js in a separate process.
 */
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import {
  modelToFiles,
  paramCount,
  readModelDir,
  type StoredModel,
  rebuildModel,
  Topology,
  WeightTable,
  decodeWeights,
} from '../../src/model/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { build, McbError } from '../../src/index.js';
import { modelCost } from '../../src/metrics/index.js';
import type { PassContext } from '../../src/passes/index.js';
import {
  pruneChannels,
  type PrunedGroup,
  type PrunedLayer,
  type SkippedGroup,
} from '../../src/passes/prune-channels/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';
import { logits } from '../model-helpers.js';

const dir = tempDir();
const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 11 };
const place = { path: ['passes', 0, 'prune-channels'], at: (o?: string) => `r.yaml:7:${o ?? 'entry'}` };
const noEngine = { progress: () => {}, place } as unknown as PassContext;
let test: Dataset;

interface Stats {
  layers: PrunedLayer[];
  groups: PrunedGroup[];
  skipped: SkippedGroup[];
  paramsBefore: number;
  paramsAfter: number;
  macsBefore: number;
  macsAfter: number;
  channelsBefore: number;
  channelsAfter: number;
}

beforeAll(async () => {
  await loadEngine('wasm');
  test = await loadMnist('test', 200);
});

/** The pass's declared statistics (report.json's `passes[].stats`), which every run below is checked against. */
const declaredStats = new Ajv2020({ strict: true, allErrors: true }).compile(pruneChannels.meta.stats);

const run = async (m: StoredModel, raw: Record<string, unknown>) => {
  const r = await pruneChannels.apply(m, pruneChannels.resolveOptions(raw, place), noEngine);
  expect(declaredStats(JSON.parse(JSON.stringify(r.stats))), JSON.stringify(declaredStats.errors)).toBe(true);
  return { model: r.model, stats: r.stats as unknown as Stats };
};

/** A builtin architecture as a stored model (the built one disposed). */
async function stored(arch: string, options: Record<string, unknown>): Promise<StoredModel> {
  const built = buildArchitecture(tf, arch, options, shape);
  const m = await fromLayersModel(tf, built);
  built.dispose();
  return m;
}

/** Random BN parameters and statistics everywhere, so no batch norm is the identity. */
function randomiseBatchNorms(m: StoredModel, seed: number): StoredModel {
  const random = mulberry32(seed);
  const t = Topology.fromModel(m.json);
  const w = new WeightTable(decodeWeights(m));
  const ranges: Record<string, [number, number]> = {
    gamma: [0.5, 1.5],
    beta: [-0.5, 0.5],
    moving_mean: [-0.5, 0.5],
    moving_variance: [0.2, 2],
  };
  for (const l of t.layers().filter((x) => x.className === 'BatchNormalization')) {
    for (const [key, [lo, hi]] of Object.entries(ranges)) {
      const n = w.require(l.name, key).spec.shape[0]!;
      w.set(
        l.name,
        key,
        Float32Array.from({ length: n }, () => lo + (hi - lo) * random()),
        [n],
      );
    }
  }
  return rebuildModel(m, t, w);
}

/**
 * Kills the odd output channels of every Conv2D / Dense root except the output layer: zero filters and bias,
 * and zero beta and moving mean in every batch norm the channel passes through (its own and, past
 * depthwise layers, theirs), so the channel is exactly 0 everywhere until a conv or dense reads it.
 */
function killOddChannels(m: StoredModel): StoredModel {
  const t = Topology.fromModel(m.json);
  const w = new WeightTable(decodeWeights(m));
  const odd = (v: Float32Array, n: number) => {
    for (let i = 0; i < v.length; i++) if ((i % n) % 2 === 1) v[i] = 0;
  };
  const out = t.outputs()[0]!;
  for (const l of t.layers()) {
    if ((l.className !== 'Conv2D' && l.className !== 'Dense') || l.name === out) continue;
    const n = t.outputShape(l.name).at(-1) as number;
    for (const key of ['kernel', 'bias']) if (w.get(l.name, key)) odd(w.floats(l.name, key), n);
  }
  for (const l of t.layers().filter((x) => x.className === 'BatchNormalization')) {
    // after a depthwise layer of depth multiplier m, channel c·m + j carries input channel c
    const from = l.inbound[0]!;
    const f =
      t.className(from) === 'DepthwiseConv2D' ? ((t.config(from).depth_multiplier as number | undefined) ?? 1) : 1;
    for (const key of ['beta', 'moving_mean']) {
      const v = w.floats(l.name, key);
      for (let i = 0; i < v.length; i++) if (Math.floor(i / f) % 2 === 1) v[i] = 0;
    }
  }
  return rebuildModel(m, t, w);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i]!)), 0);
const maxAbs = (a: Float32Array) => a.reduce((d, v) => Math.max(d, Math.abs(v)), 0);

describe('prune-channels on MobileNet v1', () => {
  it('α=0.25 at sparsity 0.5: every conv keeps half its filters; shapes, params and MACs match the hand formula; stock TF.js loads it', async () => {
    const before = tf.memory().numTensors;
    // random batch norms: an untrained MobileNet predicts 0.1 for every class, and argmax would compare ties
    const m = randomiseBatchNorms(await stored('mobilenet-v1', { alpha: 0.25, depth: 0 }), 1);
    // conv1, conv_pw_1 … conv_pw_6 of MobileNet v1 α=0.25: max(8, round(c·α)); spatial sizes 28 → 14 → 7 → 4
    const full = [8, 16, 32, 32, 64, 64, 128];
    const strides = [1, 2, 1, 2, 1, 2];
    // params: conv1 3·3·1·c0 + BN 4·c0; block i: depthwise 9·c(i−1) + BN 4·c(i−1), pointwise c(i−1)·c(i) + BN 4·c(i); dense c6·10 + 10
    const params = (c: number[]) =>
      9 * c[0]! +
      4 * c[0]! +
      c.slice(1).reduce((n, ci, i) => n + 13 * c[i]! + c[i]! * ci + 4 * ci, 0) +
      c[6]! * 10 +
      10;
    const macs = (c: number[]) => {
      let hw = 28;
      let total = hw * hw * 9 * c[0]!;
      for (let i = 1; i < 7; i++) {
        hw = Math.ceil(hw / strides[i - 1]!);
        total += hw * hw * 9 * c[i - 1]! + hw * hw * c[i - 1]! * c[i]!;
      }
      return total + c[6]! * 10;
    };
    expect(paramCount(m)).toBe(21546);
    expect(params(full)).toBe(21546);
    const { model, stats } = await run(m, { sparsity: 0.5 });
    const half = full.map((c) => c / 2);
    const roots = ['conv1', ...[1, 2, 3, 4, 5, 6].map((i) => `conv_pw_${i}`)];
    expect(stats.layers).toEqual(
      roots.map((layer, i) => ({ layer, className: 'Conv2D', channelsBefore: full[i], channelsAfter: half[i] })),
    );
    expect(stats.skipped).toEqual([{ layers: ['predictions'], reason: "predictions is the model's output layer" }]);
    expect(stats.groups).toEqual([]);
    expect(stats).toMatchObject({
      paramsBefore: 21546,
      paramsAfter: params(half),
      macsBefore: macs(full),
      macsAfter: macs(half),
      channelsBefore: 344,
      channelsAfter: 172,
    });
    expect(paramCount(model)).toBe(params(half));
    expect((modelCost(model.json) as { macs: number }).macs).toBe(macs(half));
    const t = Topology.fromModel(model.json);
    expect(t.outputShape('conv_dw_3')).toEqual([null, 14, 14, 16]);
    expect(t.outputShape('conv_pw_6_bn')).toEqual([null, 4, 4, 64]);
    expect(t.outputShape('predictions')).toEqual([null, 10]);
    const w = new WeightTable(decodeWeights(model));
    expect(w.require('conv_dw_3', 'depthwise_kernel').spec.shape).toEqual([3, 3, 16, 1]);
    expect(w.require('conv_pw_3', 'kernel').spec.shape).toEqual([1, 1, 16, 16]);
    expect(w.require('predictions', 'kernel').spec.shape).toEqual([64, 10]);

    // Stock TF.js in another process predicts what mcbuild's engine predicts.
    const out = join(dir, 'v1');
    mkdirSync(out, { recursive: true });
    for (const [name, bytes] of modelToFiles(model)) writeFileSync(join(out, name), bytes);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const loaded = JSON.parse(
      execFileSync(
        process.execPath,
        [join(ROOT, 'test/load-model.mjs'), out, 'stock', 'layers', inputs, String(test.count), '28,28,1'],
        { cwd: ROOT },
      ).toString(),
    ) as { classes?: number[]; error?: string };
    expect(loaded.error).toBeUndefined();
    const ours = await logits(model, test);
    expect(maxAbs(ours)).toBeGreaterThan(0.1);
    const classes = Array.from({ length: test.count }, (_, i) => {
      const row = ours.subarray(i * 10, i * 10 + 10);
      return row.indexOf(Math.max(...row));
    });
    expect(loaded.classes).toEqual(classes);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('removing dead channels (zero filters) keeps the function within 1e-5 on MNIST; the dead ones are the ones removed', async () => {
    const m = killOddChannels(
      randomiseBatchNorms(await stored('mobilenet-v1', { alpha: 0.25, depth: 0, depthMultiplier: 2 }), 3),
    );
    const { model, stats } = await run(m, { sparsity: 0.5, criterion: 'l2' });
    expect(stats.layers.every((l) => l.channelsAfter === l.channelsBefore / 2)).toBe(true);
    const [a, b] = [await logits(m, test), await logits(model, test)];
    expect(maxAbs(a)).toBeGreaterThan(0.1);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    // the surviving filters are the even (live) ones: no zero left in conv_pw_2's kernel
    const w = new WeightTable(decodeWeights(model));
    expect(w.floats('conv_pw_2', 'kernel').every((x) => x !== 0)).toBe(true);
    // depth multiplier 2: the depthwise kernel keeps both multiplier slots of each kept channel
    expect(w.require('conv_dw_2', 'depthwise_kernel').spec.shape).toEqual([3, 3, 8, 2]);
    expect(w.require('conv_pw_2', 'kernel').spec.shape).toEqual([1, 1, 16, 16]);
  });

  it('bn-gamma ranks by |γ| of the batch norm after each conv (Network Slimming); scope global keeps ≥ 1 per layer; roundTo rounds up', async () => {
    const m = await stored('mobilenet-v1', { alpha: 0.25, depth: 0 });
    const w = new WeightTable(decodeWeights(m));
    // conv_pw_1_bn: channels 0..7 get |γ| 0.1..0.8 (some negative), 8..15 get 1.
    const gamma = Float32Array.from({ length: 16 }, (_, c) => (c < 8 ? (c % 2 ? -1 : 1) * 0.1 * (c + 1) : 1));
    w.set('conv_pw_1_bn', 'gamma', gamma, [16]);
    const t = Topology.fromModel(m.json);
    const input = rebuildModel(m, t, w);
    const { model } = await run(input, { sparsity: 0.25, criterion: 'bn-gamma', layers: ['conv_pw_1'] });
    expect(Array.from(new WeightTable(decodeWeights(model)).floats('conv_pw_1_bn', 'gamma'))).toEqual(
      Array.from(gamma.slice(4)),
    );

    const global = await run(input, { sparsity: 0.5, criterion: 'bn-gamma', scope: 'global' });
    expect(global.stats.channelsBefore - global.stats.channelsAfter).toBe(172);
    expect(global.stats.layers.every((l) => l.channelsAfter >= 1)).toBe(true);
    const rounded = await run(input, { sparsity: 0.3, roundTo: 8 });
    expect(rounded.stats.layers.map((l) => l.channelsAfter)).toEqual([8, 16, 24, 24, 48, 48, 96]);
  });

  it('errors name the option, the layer and why; every layer of the plan keeps a channel', async () => {
    const m = await stored('mobilenet-v1', { alpha: 0.25, depth: 0 });
    const err = async (raw: Record<string, unknown>) => {
      const e = await run(m, raw).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(McbError);
      return (e as McbError).message;
    };
    expect(await err({ sparsity: 0.5, layers: ['conv_dw_2'] })).toBe(
      "`passes[0].prune-channels.layers` (at r.yaml:7:layers) names layer conv_dw_2 (DepthwiseConv2D), whose channels prune-channels cannot remove: a depthwise convolution's channels follow its input, so it is pruned with the layer that feeds it (name conv_pw_1 instead). Remove it from `layers`; the layers it can prune are conv1, conv_pw_1, conv_pw_2, conv_pw_3, conv_pw_4, conv_pw_5, conv_pw_6.",
    );
    expect(await err({ sparsity: 0.5, layers: ['predictions'] })).toMatch(
      /names layer predictions \(Dense\), whose channels prune-channels cannot remove: predictions is the model's output layer\. Remove it/,
    );
    expect(await err({ sparsity: 0.5, layers: ['conv_pw1'] })).toMatch(
      /names layer "conv_pw1", which the model does not have \(did you mean `conv_pw_1`\?\)/,
    );
    // conv1 has 8 filters: 0.95 would remove round(7.6) = 8
    expect(await err({ sparsity: 0.95, layers: ['conv1'] })).toMatch(
      /^`passes\[0\]\.prune-channels\.sparsity` \(at r\.yaml:7:sparsity\) would remove every channel of layer conv1: it has 8 channels, and removing round\(0\.95·8\) = 8 would leave none\. Lower `sparsity` below 0\.9375,/,
    );
    expect(() => pruneChannels.resolveOptions({}, place)).toThrow(
      '`passes[0].prune-channels` needs `sparsity` at r.yaml:7:entry',
    );
    // taken implicitly, such a layer is skipped with the reason
    const { stats } = await run(m, { sparsity: 0.95 });
    expect(stats.skipped).toContainEqual({
      layers: ['conv1'],
      reason: 'it has 8 channels, and removing round(0.95·8) = 8 would leave none',
    });
    expect(stats.layers.every((l) => l.channelsAfter >= 1)).toBe(true);
  });
});

describe('prune-channels on MobileNet v2: residual Add groups', () => {
  it('prunes the projections summed by each Add as one group with a shared selection; dead channels leave the function unchanged', async () => {
    const before = tf.memory().numTensors;
    const m = killOddChannels(randomiseBatchNorms(await stored('mobilenet-v2', { alpha: 0.5 }), 4));
    const { model, stats } = await run(m, { sparsity: 0.5 });
    expect(stats.groups.map((g) => [g.layers, g.merges, g.channelsBefore, g.channelsAfter])).toEqual([
      [['block_1_project', 'block_2_project'], ['block_2_add'], 16, 8],
      [['block_3_project', 'block_4_project', 'block_5_project'], ['block_4_add', 'block_5_add'], 16, 8],
      [['block_6_project', 'block_7_project'], ['block_7_add'], 32, 16],
    ]);
    expect(stats.groups[0]!.selection).toBe(
      'shared: the 8 channels with the largest l1 importance summed over the 2 layers',
    );
    const t = Topology.fromModel(model.json);
    for (const add of ['block_2_add', 'block_4_add', 'block_5_add', 'block_7_add']) {
      const shapes = t.inputShapes(add);
      expect(shapes[0]).toEqual(shapes[1]);
    }
    expect(t.outputShape('block_5_add')).toEqual([null, 7, 7, 8]);
    expect(t.outputShape('block_6_depthwise')).toEqual([null, 4, 4, 48]); // block_6_expand: 96 → 48, its depthwise follows
    expect(stats.paramsAfter).toBeLessThan(stats.paramsBefore / 3);
    const [a, b] = [await logits(m, test), await logits(model, test)];
    expect(maxAbs(a)).toBeGreaterThan(0.1);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Flatten, Concatenate and Sequential', () => {
  it('rewires Dense rows after Flatten in NHWC order (channel fastest); skips channels read by a Concatenate, with the reason', async () => {
    const init = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.3 });
    const input = tf.input({ shape: [28, 28, 1], name: 'input' });
    const apply = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
    let x = apply(
      tf.layers.conv2d({
        name: 'conv_a',
        filters: 6,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(1),
        biasInitializer: init(2),
      }),
      input,
    );
    x = apply(tf.layers.batchNormalization({ name: 'bn_a' }), x);
    x = apply(tf.layers.reLU({ name: 'relu_a' }), x);
    const b = apply(tf.layers.conv2d({ name: 'conv_b', filters: 4, kernelSize: 1, kernelInitializer: init(3) }), x);
    const c = apply(tf.layers.conv2d({ name: 'conv_c', filters: 4, kernelSize: 1, kernelInitializer: init(4) }), x);
    x = apply(tf.layers.concatenate({ name: 'concat' }), [b, c]);
    x = apply(
      tf.layers.conv2d({
        name: 'conv_d',
        filters: 6,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(5),
        biasInitializer: init(6),
      }),
      x,
    );
    x = apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }), x);
    x = apply(tf.layers.flatten({ name: 'flat' }), x);
    x = apply(
      tf.layers.dense({
        name: 'fc',
        units: 12,
        activation: 'relu',
        kernelInitializer: init(7),
        biasInitializer: init(8),
      }),
      x,
    );
    const out = apply(tf.layers.dense({ name: 'predictions', units: 10, kernelInitializer: init(9) }), x);
    const built = tf.model({ inputs: input, outputs: out });
    const m = killOddChannels(randomiseBatchNorms(await fromLayersModel(tf, built), 5));
    built.dispose();
    const { model, stats } = await run(m, { sparsity: 0.5 });
    expect(stats.layers.map((l) => [l.layer, l.channelsBefore, l.channelsAfter])).toEqual([
      ['conv_a', 6, 3],
      ['conv_d', 6, 3],
      ['fc', 12, 6],
    ]);
    expect(stats.skipped).toEqual([
      { layers: ['conv_b'], reason: 'it is read by concat (Concatenate), which prune-channels cannot rewire' },
      { layers: ['conv_c'], reason: 'it is read by concat (Concatenate), which prune-channels cannot rewire' },
      { layers: ['predictions'], reason: "predictions is the model's output layer" },
    ]);
    // 28 → 14 (conv_a) → 7 (conv_d) → 3 (pool): flat 3·3·6 = 54 → 27 rows of fc's kernel
    expect(new WeightTable(decodeWeights(model)).require('fc', 'kernel').spec.shape).toEqual([27, 6]);
    const [a, bb] = [await logits(m, test), await logits(model, test)];
    expect(maxAbs(a)).toBeGreaterThan(0.1);
    expect(maxDiff(a, bb)).toBeLessThan(1e-5);
  });
});

describe('prune-channels in a recipe', () => {
  const cacheDir = join(dir, 'cache');
  const recipe = (passes: string) => writeText(join(dir, 'pc.yaml'), tinyRecipe({ passes, output: './out' }));

  it('builds a smaller model that stock TF.js loads in a separate process and predicts as mcbuild measured; bad layers point at the recipe', async () => {
    const file = recipe('  - prune-channels: { sparsity: 0.5 }');
    const result = await build(file, { cacheDir, backend: 'wasm' });
    const { baseline, result: res } = result.report.metrics as unknown as Record<
      'baseline' | 'result',
      { params: number; correct: number; macs: number }
    >;
    // mlp [32]: fc_1 784×32 + 32 loses 16 units, predictions loses 16 input rows
    expect(baseline.params).toBe(784 * 32 + 32 + 330);
    expect(res.params).toBe(784 * 16 + 16 + 16 * 10 + 10);
    expect(res.macs).toBe(784 * 16 + 16 * 10);
    const out = join(dir, 'out');
    const { model } = await readModelDir(join(out, 'model.json'));
    expect(paramCount(model)).toBe(res.params);
    const inputs = join(dir, 'mlp-inputs.f32');
    const ds = await loadMnist('test', 300);
    writeFileSync(inputs, ds.x);
    const loaded = JSON.parse(
      execFileSync(
        process.execPath,
        [join(ROOT, 'test/load-model.mjs'), out, 'stock', 'layers', inputs, '300', '28,28,1'],
        { cwd: ROOT },
      ).toString(),
    ) as { classes?: number[]; error?: string };
    expect(loaded.error).toBeUndefined();
    expect(loaded.classes!.filter((c, i) => c === ds.y[i]).length).toBe(res.correct);

    const bad = recipe('  - prune-channels: { sparsity: 0.5, layers: [predictions] }');
    const lines = readFileSync(bad, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('prune-channels:'));
    const col = lines[line]!.indexOf('layers:') + 'layers: '.length + 1;
    const e = await build(bad, { cacheDir, backend: 'wasm' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(McbError);
    expect((e as McbError).message).toMatch(
      new RegExp(
        `^\`passes\\[0\\]\\.prune-channels\\.layers\` \\(at .*pc\\.yaml:${line + 1}:${col}\\) names layer predictions \\(Dense\\), whose channels prune-channels cannot remove: predictions is the model's output layer\\. Remove it from \`layers\`; the layers it can prune are fc_1\\.$`,
      ),
    );
  });
});
