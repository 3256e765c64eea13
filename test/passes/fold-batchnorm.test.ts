/**
 * fold-batchnorm on real TF.js and real MNIST: every builtin architecture computes the same function after
 * the fold (logits within 1e-4 relative), with batch norms whose statistics are real (re-estimated on MNIST
 * after randomising gamma and beta, so no BN is the identity), and the output loads in stock TF.js.
 */
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { recalibrateBatchNorm } from '../../src/engine/batchnorm.js';
import {
  filesToModel,
  modelToFiles,
  paramCount,
  type StoredModel,
  rebuildModel,
  Topology,
  WeightTable,
  decodeWeights,
} from '../../src/model/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { build } from '../../src/index.js';
import { cluster } from '../../src/passes/cluster/index.js';
import { foldBatchNorms } from '../../src/passes/fold-batchnorm/apply.js';
import { foldBatchnorm, type FoldedBatchNorm, type SkippedBatchNorm } from '../../src/passes/fold-batchnorm/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { prune } from '../../src/passes/prune/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { relativeError, ROOT, tempDir, writeText } from '../helpers.js';
import { predictAll } from '../model-helpers.js';

const dir = tempDir();
const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 11 };
const place = (name: string) => ({ path: ['passes', 0, name], at: (o?: string) => `r.yaml:7:${o ?? 'entry'}` });
// fold-batchnorm, cluster and one-shot prune load no engine and read no data
const noEngine = { progress: () => {} } as unknown as PassContext;
let train: Dataset;
let test: Dataset;

beforeAll(async () => {
  await loadEngine('wasm');
  train = await loadMnist('train', 256);
  test = await loadMnist('test', 300);
});

interface FoldStats {
  layersBefore: number;
  layersAfter: number;
  batchNormsFolded: number;
  batchNormsSkipped: number;
  folded: FoldedBatchNorm[];
  skipped: SkippedBatchNorm[];
  paramsBefore: number;
  paramsAfter: number;
  note?: string;
  unclustered?: string[];
}

/**
 * Random gamma and beta on every BN, then its moving statistics re-estimated on MNIST with those (precise
 * BN, as after training). `recalibrate: false` draws the statistics at random instead: TF.js cannot run a
 * BN without gamma or beta in training mode.
 */
async function withRealBatchNorms(model: tf.LayersModel, seed: number, recalibrate = true): Promise<StoredModel> {
  const random = mulberry32(seed);
  const draw = (n: number, lo: number, hi: number) =>
    tf.tensor1d(Float32Array.from({ length: n }, () => lo + (hi - lo) * random()));
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const values = layer.weights.map((w) => {
      const n = w.shape[0]!;
      const key = w.originalName.split('/').at(-1);
      if (key === 'gamma') return draw(n, 0.5, 1.5);
      if (key === 'beta') return draw(n, -0.5, 0.5);
      if (recalibrate) return w.read().clone();
      return key === 'moving_mean' ? draw(n, -0.5, 0.5) : draw(n, 0.2, 2);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  if (recalibrate) recalibrateBatchNorm(tf, model, train, { batches: 2, batchSize: 64, seed });
  const stored = await fromLayersModel(tf, model);
  model.dispose();
  return stored;
}

/** The model's output before its final softmax, where a relative error is not squashed. */
function logitsModel(m: StoredModel): StoredModel {
  const t = Topology.fromModel(m.json);
  const last = t.outputs()[0]!;
  if (t.config(last).activation === 'softmax') t.updateConfig(last, { activation: 'linear' });
  return { ...m, json: t.toModelJson(m.json) };
}

const predict = (m: StoredModel, ds: Dataset = test): Promise<Float32Array> => predictAll(m, ds);

/** The pass's declared statistics (report.json's `passes[].stats`), which every run below is checked against. */
const declaredStats = new Ajv2020({ strict: true, allErrors: true }).compile(foldBatchnorm.meta.stats);

const fold = async (m: StoredModel) => {
  const r = await foldBatchnorm.apply(m, foldBatchnorm.resolveOptions({}, place('fold-batchnorm')), noEngine);
  expect(declaredStats(JSON.parse(JSON.stringify(r.stats))), JSON.stringify(declaredStats.errors)).toBe(true);
  return { model: r.model, stats: r.stats as unknown as FoldStats };
};

describe('fold-batchnorm on the builtin architectures', () => {
  it('mlp and lenet5 have no batch norm: the model passes through byte for byte, and the stats say why', async () => {
    for (const arch of ['mlp', 'lenet5']) {
      const m = await fromLayersModel(tf, buildArchitecture(tf, arch, {}, shape));
      const { model, stats } = await fold(m);
      expect(model).toBe(m);
      expect(stats).toMatchObject({
        batchNormsFolded: 0,
        batchNormsSkipped: 0,
        layersBefore: stats.layersAfter,
        note: 'the model has no BatchNormalization layers: nothing to fold',
      });
    }
  });

  const cases: [string, Record<string, unknown>][] = [
    ['mobilenet-v1', { alpha: 0.25, depthMultiplier: 2 }],
    ['mobilenet-v2', { alpha: 0.35 }],
  ];
  for (const [arch, options] of cases) {
    it(`${arch} ${JSON.stringify(options)}: every BN folded, logits within 1e-4 relative on MNIST, fewer params`, async () => {
      const before = tf.memory().numTensors;
      const m = await withRealBatchNorms(buildArchitecture(tf, arch, options, shape), 5);
      const t = Topology.fromModel(m.json);
      const bns = t.layers().filter((l) => l.className === 'BatchNormalization');
      const { model, stats } = await fold(m);
      expect(stats.batchNormsFolded).toBe(bns.length);
      expect(stats.skipped).toEqual([]);
      expect(stats.layersAfter).toBe(stats.layersBefore - bns.length);
      const after = Topology.fromModel(model.json);
      expect(after.layers().some((l) => l.className === 'BatchNormalization')).toBe(false);
      // Each conv had no bias: it gains C, the BN's 4·C go.
      const channels = bns.reduce((n, l) => n + (t.outputShape(l.name).at(-1) as number), 0);
      expect(stats.paramsAfter).toBe(stats.paramsBefore - 3 * channels);
      expect(paramCount(model)).toBe(stats.paramsAfter);
      for (const f of stats.folded) expect(after.config(f.into).use_bias).toBe(true);
      expect(stats.folded.map((f) => f.className)).toContain('DepthwiseConv2D');

      const [a, b] = [await predict(logitsModel(m)), await predict(logitsModel(model))];
      const error = relativeError(a, b);
      expect(error).toBeLessThan(1e-4);
      expect(error).toBeGreaterThan(0); // float32 rounding differs: the comparison really ran two models
      // The batch norms matter: with identity statistics instead, the logits are far off.
      const identity = new WeightTable(decodeWeights(m));
      for (const bn of bns) {
        const n = t.outputShape(bn.name).at(-1) as number;
        for (const [key, v] of [
          ['gamma', 1],
          ['beta', 0],
          ['moving_mean', 0],
          ['moving_variance', 1],
        ] as const)
          identity.set(bn.name, key, new Float32Array(n).fill(v), [n]);
      }
      expect(relativeError(a, await predict(logitsModel(rebuildModel(m, t, identity))))).toBeGreaterThan(0.1);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('which batch norms fold', () => {
  it('skips, with the reason, every BN whose fold would change the function; folds the rest exactly', async () => {
    const init = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.3 });
    const input = tf.input({ shape: [28, 28, 1], name: 'input' });
    const apply = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
    // Folds: conv with bias; conv whose BN has neither scale nor center.
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
    x = apply(
      tf.layers.conv2d({
        name: 'conv_b',
        filters: 6,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(3),
      }),
      x,
    );
    x = apply(tf.layers.batchNormalization({ name: 'bn_b', scale: false, center: false }), x);
    // Skips: the conv applies relu before its BN.
    x = apply(
      tf.layers.conv2d({
        name: 'conv_relu',
        filters: 6,
        kernelSize: 1,
        activation: 'relu',
        kernelInitializer: init(4),
      }),
      x,
    );
    x = apply(tf.layers.batchNormalization({ name: 'bn_after_relu' }), x);
    // Skips: the conv's output also feeds the Add.
    const branch = apply(
      tf.layers.conv2d({ name: 'conv_shared', filters: 6, kernelSize: 1, kernelInitializer: init(5) }),
      x,
    );
    const normed = apply(tf.layers.batchNormalization({ name: 'bn_shared' }), branch);
    x = apply(tf.layers.add({ name: 'add' }), [branch, normed]);
    // Skips: a BN after a pooling layer, and one over the height axis.
    x = apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }), x);
    x = apply(tf.layers.batchNormalization({ name: 'bn_after_pool' }), x);
    x = apply(tf.layers.conv2d({ name: 'conv_h', filters: 6, kernelSize: 1, kernelInitializer: init(6) }), x);
    x = apply(tf.layers.batchNormalization({ name: 'bn_height', axis: 1 }), x);
    x = apply(tf.layers.flatten({ name: 'flat' }), x);
    // Folds: a Dense without bias, the last one before the output layer.
    x = apply(tf.layers.dense({ name: 'fc', units: 12, useBias: false, kernelInitializer: init(7) }), x);
    x = apply(tf.layers.batchNormalization({ name: 'bn_fc' }), x);
    const out = apply(tf.layers.dense({ name: 'predictions', units: 10, kernelInitializer: init(8) }), x);
    const m = await withRealBatchNorms(tf.model({ inputs: input, outputs: out }), 9, false);

    const { model, stats } = await fold(m);
    expect(stats.folded).toEqual([
      { batchNorm: 'bn_a', into: 'conv_a', className: 'Conv2D', addedBias: false },
      { batchNorm: 'bn_b', into: 'conv_b', className: 'Conv2D', addedBias: true },
      { batchNorm: 'bn_fc', into: 'fc', className: 'Dense', addedBias: true },
    ]);
    expect(stats.skipped).toEqual([
      { layer: 'bn_after_relu', reason: 'conv_relu applies a relu activation before it' },
      { layer: 'bn_shared', reason: "conv_shared's output is also read by add" },
      { layer: 'bn_after_pool', reason: 'it follows pool (MaxPooling2D), not a Conv2D, DepthwiseConv2D or Dense' },
      { layer: 'bn_height', reason: "it normalises axis 1, not conv_h's channels (the last axis)" },
    ]);
    expect(stats.layersAfter).toBe(stats.layersBefore - 3);
    expect(relativeError(await predict(m), await predict(model))).toBeLessThan(1e-4);
  });

  it('in a Sequential model too, including a BN right after the first layer', async () => {
    const m = await withRealBatchNorms(
      tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [28, 28, 1],
            name: 'c1',
            filters: 4,
            kernelSize: 5,
            strides: 2,
            useBias: false,
            kernelInitializer: tf.initializers.randomNormal({ seed: 1 }),
          }),
          tf.layers.batchNormalization({ name: 'bn1' }),
          tf.layers.reLU({ name: 'r1' }),
          tf.layers.depthwiseConv2d({
            name: 'dw',
            kernelSize: 3,
            depthMultiplier: 3,
            depthwiseInitializer: tf.initializers.randomNormal({ seed: 2 }),
          }),
          tf.layers.batchNormalization({ name: 'bn2', epsilon: 0.01 }),
          tf.layers.flatten({ name: 'f' }),
          tf.layers.dense({
            name: 'out',
            units: 10,
            kernelInitializer: tf.initializers.randomNormal({ seed: 3, stddev: 0.05 }),
          }),
        ],
      }),
      3,
    );
    const { model, stats } = await fold(m);
    expect(stats.batchNormsFolded).toBe(2);
    expect(Topology.fromModel(model.json).names()).toEqual(['c1', 'r1', 'dw', 'f', 'out']);
    expect(relativeError(await predict(m), await predict(model))).toBeLessThan(1e-4);
  });

  it('keeps pruned zeros; folded clustered kernels leave the cluster record (their shared values are rescaled)', async () => {
    const m = await withRealBatchNorms(buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, shape), 2);
    const pruned = (await prune.apply(m, prune.resolveOptions({ sparsity: 0.5 }, place('prune')), noEngine)).model;
    const clustered = (await cluster.apply(pruned, cluster.resolveOptions({ clusters: 8 }, place('cluster')), noEngine))
      .model;
    const { model, stats } = await fold(clustered);
    const zeros = (s: StoredModel) =>
      decodeWeights(s)
        .filter((w) => /kernel$/.test(w.spec.name))
        .reduce((n, w) => n + w.values.filter((v) => v === 0).length, 0);
    expect(zeros(model)).toBe(zeros(clustered));
    const meta = (s: StoredModel) =>
      (s.json.userDefinedMetadata as { mcbuild: { prunedWeights: string[]; clusteredWeights: string[] } }).mcbuild;
    expect(meta(model).prunedWeights).toEqual(meta(clustered).prunedWeights);
    expect(meta(model).clusteredWeights).toEqual(['predictions/kernel']);
    expect(stats.unclustered).toHaveLength(meta(clustered).clusteredWeights.length - 1);
  });

  it('a graph model is an error naming the pass, with the fix', () => {
    expect(() =>
      foldBatchNorms(
        { json: { format: 'graph-model', modelTopology: { node: [] } }, weightSpecs: [], weightData: new Uint8Array() },
        place('fold-batchnorm'),
      ),
    ).toThrow(
      /fold-batchnorm needs a layers model \(the fold-batchnorm pass at r\.yaml:7:entry\), but this is a graph model/,
    );
  });
});

describe('fold-batchnorm in a build', () => {
  it('loads in stock TF.js, and the report has MACs, FLOPs, latency and the stats', async () => {
    const m = await withRealBatchNorms(buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, shape), 7);
    mkdirSync(join(dir, 'model'));
    for (const [name, data] of modelToFiles(m)) writeFileSync(join(dir, 'model', name), data);
    const recipe = writeText(
      join(dir, 'fold.yaml'),
      `version: 1
name: fold
model: { path: ./model/model.json }
data:
  eval: { dataset: mnist, split: test, limit: 300 }
passes:
  - fold-batchnorm: {}
output: ./out
`,
    );
    const r = await build(recipe, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    const { baseline, result } = r.report.metrics;
    // The function is the same: so are the predictions on every sample.
    expect(result.correct).toBe(baseline.correct);
    expect(result.macs).toBe(baseline.macs);
    expect(result.params).toBeLessThan(baseline.params);
    // FLOPs: each BN's 2 per element go; each conv's new bias adds 1 per output element.
    const t = Topology.fromModel(m.json);
    const bnElements = t
      .layers()
      .filter((l) => l.className === 'BatchNormalization')
      .reduce(
        (n, l) =>
          n +
          t
            .outputShape(l.name)
            .slice(1)
            .reduce<number>((a, d) => a * d!, 1),
        0,
      );
    expect(result.flops).toBe(baseline.flops! - bnElements);
    for (const side of [baseline, result]) {
      expect(side.latency!.batch1Ms).toBeGreaterThan(0);
      expect(side.latency!.batch32Ms).toBeGreaterThan(0);
      expect(side.latency!.backend).toBe('wasm');
      expect(Number.isNaN(Date.parse(side.latency!.measuredAt))).toBe(false);
    }
    const stats = r.report.passes[0]!.stats as FoldStats;
    expect(stats.batchNormsFolded).toBe(t.layers().filter((l) => l.className === 'BatchNormalization').length);

    // Stock TF.js (no mcbuild loader) loads the output and predicts what the folded model predicts here.
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const stdout = execFileSync(
      process.execPath,
      [join(ROOT, 'test/load-model.mjs'), join(dir, 'out'), 'stock', 'layers', inputs, String(test.count), '28,28,1'],
      { cwd: ROOT },
    ).toString();
    const loaded = JSON.parse(stdout) as { classes?: number[]; error?: string };
    expect(loaded.error).toBeUndefined();
    const folded = await predict(filesToModel(r.execution.finalModel));
    const argmax = (p: Float32Array) =>
      Array.from({ length: p.length / 10 }, (_, i) =>
        p.subarray(i * 10, i * 10 + 10).reduce((best, v, k, arr) => (v > arr[best]! ? k : best), 0),
      );
    expect(loaded.classes).toEqual(argmax(folded));

    // A warm rebuild reuses the cached eval steps: the latency, and when it was measured, come with them.
    const again = await build(recipe, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    expect(again.execution.ran).toEqual([]);
    expect(again.report.metrics.result.latency).toEqual(result.latency);
  });
});
