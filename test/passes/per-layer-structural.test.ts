/**
 * Per-layer overrides in the structural passes and finetune, on real TF.js (wasm) and real MNIST: the
 * resolver is the real one (src/plan/layers.ts, exact names, globs, re: patterns and classes, in the order
 * written), each pass's apply() gets its optionsFor as the executor passes it, and each `layersAfter`
 * prediction is checked against the layers of the model the pass really produced.
 */
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { recalibrateBatchNorm } from '../../src/engine/batchnorm.js';
import { type StoredModel, Topology, decodeWeights, modelLayers } from '../../src/model/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { trainModel } from '../../src/engine/train.js';
import { McbError } from '../../src/errors.js';
import { finetune } from '../../src/passes/finetune/index.js';
import { foldBatchnorm, type FoldedBatchNorm, type SkippedBatchNorm } from '../../src/passes/fold-batchnorm/index.js';
import type { OptionsPlace, PassContext, PassDefinition } from '../../src/passes/index.js';
import { lowrank, type DecomposedLayer } from '../../src/passes/lowrank/index.js';
import { pruneChannels, type PrunedLayer, type SkippedGroup } from '../../src/passes/prune-channels/index.js';
import { layerResolver, rulesFor } from '../../src/plan/layers.js';
import { formatDataPath, type DataPath, type OverrideBlock } from '../../src/recipe/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { relativeError } from '../helpers.js';
import { logits } from '../model-helpers.js';

/** Stats as report.json stores them match the pass's declared statistics, optional per-layer fields included. */
function expectDeclaredStats(pass: { meta: { stats: object } }, stats: unknown): void {
  const validate = new Ajv2020({ strict: true, allErrors: true }).compile(pass.meta.stats);
  expect(validate(JSON.parse(JSON.stringify(stats))), JSON.stringify(validate.errors)).toBe(true);
}

const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 5 };
/** Where a value was written, as the data path itself: an error pointing at an override says which block. */
const placeAt = (path: DataPath) => `r.yaml:${formatDataPath(path)}`;
let train: Dataset;
let test: Dataset;
/** LeNet-5 (6@5×5 → 16@5×5 → fc_1 32 → fc_2 24 → 10), trained one epoch on 512 MNIST digits. */
let lenet: StoredModel;

beforeAll(async () => {
  await loadEngine('wasm');
  train = await loadMnist('train', 512);
  test = await loadMnist('test', 200);
  const model = buildArchitecture(tf, 'lenet5', { hidden: [32, 24] }, shape);
  await trainModel(tf, model, train, { epochs: 1, batchSize: 32, learningRate: 0.005, optimizer: 'adam', seed: 1 });
  lenet = await fromLayersModel(tf, model);
  model.dispose();
});

type Block = Omit<OverrideBlock, 'index'>;

/** A pass's options, the real resolver for `blocks` against the model's layers, and the ctx the executor would give. */
function resolved<O extends object>(
  pass: PassDefinition<O>,
  raw: Record<string, unknown>,
  blocks: Block[],
  model: StoredModel,
  base: Partial<PassContext> = {},
) {
  const path: DataPath = ['passes', 0, pass.meta.name];
  const place: OptionsPlace = { path, at: (option) => placeAt(option === undefined ? path : [...path, option]) };
  const options = pass.resolveOptions(raw, place);
  const rules = rulesFor(
    blocks.map((b, index) => ({ index, ...b })),
    pass.meta.name,
  );
  const resolver = layerResolver(pass, { path, raw }, options, rules, modelLayers(model.json), placeAt);
  const ctx: PassContext = {
    engine: () => loadEngine('wasm'),
    data: () => Promise.reject(new Error(`${pass.meta.name} reads no data here`)),
    signal: new AbortController().signal,
    progress: () => {},
    ...base,
    place,
    layerOptions: resolver.optionsFor,
  };
  return { options, resolver, ctx, layers: modelLayers(model.json) };
}

/** A weight's values by name (layer/key). */
function weight(m: StoredModel, name: string): Float32Array {
  const w = decodeWeights(m).find((x) => x.spec.name === name);
  if (!w) throw new Error(`no weight ${name}`);
  return w.values as Float32Array;
}
const shapeOf = (m: StoredModel, name: string) => m.weightSpecs.find((s) => s.name === name)?.shape;
const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && bytes(a).equals(bytes(b));

/** MobileNet v1 α=0.25 without extra blocks, its batch norms with random γ, β and statistics re-estimated on MNIST. */
async function mobilenetWithRealBatchNorms(seed: number): Promise<StoredModel> {
  const model = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, { ...shape, seed });
  const random = mulberry32(seed);
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const values = layer.weights.map((w) => {
      const key = w.originalName.split('/').at(-1);
      const n = w.shape[0]!;
      if (key === 'gamma') return tf.tensor1d(Float32Array.from({ length: n }, () => 0.5 + random()));
      if (key === 'beta') return tf.tensor1d(Float32Array.from({ length: n }, () => random() - 0.5));
      return w.read().clone();
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  recalibrateBatchNorm(tf, model, train, { batches: 2, batchSize: 64, seed });
  const stored = await fromLayersModel(tf, model);
  model.dispose();
  return stored;
}

describe('fold-batchnorm: skip', () => {
  it('keeps a BN that is skipped, or whose conv is; folds the rest exactly; layersAfter predicts the output layers', async () => {
    const m = await mobilenetWithRealBatchNorms(3);
    const blocks: Block[] = [
      { layers: ['conv_pw_2_bn'], passes: { 'fold-batchnorm': 'skip' } },
      // every depthwise conv (glob and class must both match) ...
      { layers: ['conv_dw_*'], classes: ['DepthwiseConv2D'], passes: { 'fold-batchnorm': 'skip' } },
      // ... but the first: a later block with options takes a layer back
      { layers: ['re:conv_dw_1'], passes: { 'fold-batchnorm': {} } },
    ];
    const { options, ctx, resolver, layers } = resolved(foldBatchnorm, {}, blocks, m);
    const { model, stats } = await foldBatchnorm.apply(m, options, ctx);
    expectDeclaredStats(foldBatchnorm, stats);
    const s = stats as unknown as { folded: FoldedBatchNorm[]; skipped: SkippedBatchNorm[]; batchNormsFolded: number };
    const kept = ['conv_dw_2_bn', 'conv_pw_2_bn', 'conv_dw_3_bn', 'conv_dw_4_bn', 'conv_dw_5_bn', 'conv_dw_6_bn'];
    expect(s.skipped).toEqual(kept.map((layer) => ({ layer, reason: 'skipped by an override' })));
    const bns = layers.filter((l) => l.className === 'BatchNormalization').map((l) => l.name);
    expect(bns).toHaveLength(13);
    expect(s.batchNormsFolded).toBe(13 - kept.length);
    expect(s.folded.map((f) => f.into)).toContain('conv_dw_1');
    const after = Topology.fromModel(model.json);
    expect(
      after
        .layers()
        .filter((l) => l.className === 'BatchNormalization')
        .map((l) => l.name),
    ).toEqual(kept);
    // The kept BNs' parameters and their convs' kernels are untouched.
    for (const name of [
      'conv_pw_2_bn/moving_mean',
      'conv_dw_3_bn/gamma',
      'conv_dw_3/depthwise_kernel',
      'conv_pw_2/kernel',
    ])
      expect(sameBits(weight(model, name), weight(m, name))).toBe(true);
    expect(after.config('conv_dw_3').use_bias).toBe(false);

    const [a, b] = [await logits(m, test), await logits(model, test)];
    const error = relativeError(a, b);
    expect(error).toBeLessThan(1e-4);
    expect(error).toBeGreaterThan(0); // the folded convs' float32 rounding differs: two different models ran

    // Planning: the prediction is exact on this model (linear convs each read by their BN alone).
    expect(foldBatchnorm.layersAfter!(layers, options, resolver.optionsFor)).toEqual(modelLayers(model.json));
    // And it follows the overrides: without them every BN goes.
    expect(
      foldBatchnorm.layersAfter!(layers, options, () => options)!.some((l) => l.className === 'BatchNormalization'),
    ).toBe(false);
  });
});

describe('lowrank: per-layer rank rules and skip', () => {
  const blocks: Block[] = [
    // rank 4 for both Dense hidden layers: replaces the entry's ratio (an exclusive option) ...
    { layers: ['re:fc_\\d'], passes: { lowrank: { rank: 4 } } },
    // ... and fc_1's own ratio replaces that rank again
    { layers: ['fc_1'], passes: { lowrank: { ratio: 0.2 } } },
    { layers: ['conv_1'], passes: { lowrank: 'skip' } },
  ];

  it('decomposes each layer with its own rule, leaves the skipped one whole; layersAfter is a superset of the output', async () => {
    const { options, ctx, resolver, layers } = resolved(lowrank, { ratio: 0.25 }, blocks, lenet);
    const { model, stats } = await lowrank.apply(lenet, options, ctx);
    expectDeclaredStats(lowrank, stats);
    const decomposed = stats.decomposed as DecomposedLayer[];
    // conv_2 150×16 at the entry's ratio 0.25: rank 3; fc_1 400×32 at 0.2: 5 (at 0.25 it would be 7); fc_2
    // 32×24 at rank 4 (at 0.25: 3); predictions 24×10 at 0.25: 1.
    expect(decomposed.map((d) => [d.layer, d.matrix, d.rank, d.override])).toEqual([
      ['conv_2', [150, 16], 3, undefined],
      ['fc_1', [400, 32], 5, { ratio: 0.2 }],
      ['fc_2', [32, 24], 4, { rank: 4 }],
      ['predictions', [24, 10], 1, undefined],
    ]);
    expect(stats.skipped).toEqual([{ layer: 'conv_1', className: 'Conv2D', reason: 'skipped by an override' }]);
    expect(stats).toMatchObject({ rule: 'ratio', ratio: 0.25 });
    expect(
      [
        'conv_2_lr1/kernel',
        'conv_2_lr2/kernel',
        'fc_1_lr1/kernel',
        'fc_1_lr2/kernel',
        'fc_2_lr1/kernel',
        'fc_2_lr2/kernel',
        'predictions_lr1/kernel',
      ].map((n) => shapeOf(model, n)),
    ).toEqual([
      [5, 5, 6, 3],
      [1, 1, 3, 16],
      [400, 5],
      [5, 32],
      [32, 4],
      [4, 24],
      [24, 1],
    ]);
    // The skipped conv is whole, its weights bit for bit.
    expect(shapeOf(model, 'conv_1/kernel')).toEqual([5, 5, 1, 6]);
    for (const n of ['conv_1/kernel', 'conv_1/bias']) expect(sameBits(weight(model, n), weight(lenet, n))).toBe(true);

    // Planning: every layer of the output is predicted as it is; the extras are exactly the originals of the
    // decomposed layers (kept because whether a rule makes a layer smaller depends on its kernel's shape).
    const predicted = lowrank.layersAfter!(layers, options, resolver.optionsFor)!;
    const actual = modelLayers(model.json);
    for (const l of actual) expect(predicted).toContainEqual(l);
    const extra = predicted.filter((p) => !actual.some((l) => l.name === p.name)).map((l) => l.name);
    expect(extra).toEqual(['conv_2', 'fc_1', 'fc_2', 'predictions']);
  });

  it('a per-layer rank no layer it applies to takes is an error pointing at the override block', async () => {
    const { options, ctx } = resolved(
      lowrank,
      { ratio: 0.25 },
      [{ layers: ['fc_2'], passes: { lowrank: { rank: 24 } } }],
      lenet,
    );
    const err = await lowrank.apply(lenet, options, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McbError);
    expect((err as McbError).message).toBe(
      "the override's `rank: 24` at r.yaml:overrides[0].lowrank.rank is not below min(m, n) of layer fc_2 (Dense, kernel 32×24, min 24), which takes ranks 1..23 (1..13 make it smaller); lower it.",
    );
    // With `layers`, a layer must be named there and not skipped.
    const named = resolved(
      lowrank,
      { rank: 2, layers: ['fc_1', 'fc_2'] },
      [{ layers: ['fc_1'], passes: { lowrank: 'skip' } }],
      lenet,
    );
    const { stats } = await lowrank.apply(lenet, named.options, named.ctx);
    expect((stats.decomposed as DecomposedLayer[]).map((d) => [d.layer, d.rank])).toEqual([['fc_2', 2]]);
    expect(lowrank.layersAfter!(named.layers, named.options, named.resolver.optionsFor)!.map((l) => l.name)).toEqual([
      'conv_1',
      'pool_1',
      'conv_2',
      'pool_2',
      'flatten',
      'fc_1',
      'fc_2',
      'fc_2_lr1',
      'fc_2_lr2',
      'predictions',
    ]);
  });
});

describe('prune-channels: per-layer sparsity and criterion, skip', () => {
  interface Stats {
    layers: PrunedLayer[];
    skipped: SkippedGroup[];
  }
  const blocks: Block[] = [
    { layers: ['conv_2'], passes: { 'prune-channels': { sparsity: 0.25, criterion: 'l2' } } },
    { layers: ['fc_1'], passes: { 'prune-channels': 'skip' } },
  ];

  it('scope layer: each layer at its own sparsity and criterion; a skipped layer keeps every channel', async () => {
    const { options, ctx } = resolved(pruneChannels, { sparsity: 0.5 }, blocks, lenet);
    const r = await pruneChannels.apply(lenet, options, ctx);
    expectDeclaredStats(pruneChannels, r.stats);
    const stats = r.stats as unknown as Stats;
    expect(stats.layers.map((l) => [l.layer, l.channelsBefore, l.channelsAfter, l.override])).toEqual([
      ['conv_1', 6, 3, undefined],
      ['conv_2', 16, 12, { sparsity: 0.25, criterion: 'l2' }],
      ['fc_2', 24, 12, undefined],
    ]);
    expect(stats.skipped).toEqual([
      { layers: ['fc_1'], reason: 'skipped by an override' },
      { layers: ['predictions'], reason: "predictions is the model's output layer" },
    ]);
    // conv_2 kept its 12 filters of largest L2 norm (its bias follows them); fc_1 keeps its 32 units and
    // bias bit for bit, and loses only the rows of conv_2's removed channels (5·5 positions × 12 kept).
    const k = weight(lenet, 'conv_2/kernel');
    const norms = Array.from({ length: 16 }, (_, c) =>
      Math.hypot(...Array.from({ length: k.length / 16 }, (_, i) => k[i * 16 + c]!)),
    );
    const top = [...norms.keys()]
      .sort((a, b) => norms[b]! - norms[a]!)
      .slice(0, 12)
      .sort((a, b) => a - b);
    const bias = weight(lenet, 'conv_2/bias');
    expect(Array.from(weight(r.model, 'conv_2/bias'))).toEqual(top.map((c) => bias[c]));
    expect(shapeOf(r.model, 'fc_1/kernel')).toEqual([5 * 5 * 12, 32]);
    expect(sameBits(weight(r.model, 'fc_1/bias'), weight(lenet, 'fc_1/bias'))).toBe(true);
    expect(shapeOf(r.model, 'fc_2/kernel')).toEqual([32, 12]);
    // Layer names do not change: no layersAfter, the planner keeps the list.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- only checks the hook is absent, never calls it
    expect(pruneChannels.layersAfter).toBeUndefined();
    expect(modelLayers(r.model.json).map((l) => l.name)).toEqual(modelLayers(lenet.json).map((l) => l.name));
  });

  it('scope global: a layer with its own sparsity is pruned on its own; the others share the entry sparsity', async () => {
    const { options, ctx } = resolved(pruneChannels, { sparsity: 0.5, scope: 'global' }, blocks, lenet);
    const stats = (await pruneChannels.apply(lenet, options, ctx)).stats as unknown as Stats;
    const byName = new Map(stats.layers.map((l) => [l.layer, l]));
    expect(byName.get('conv_2')).toMatchObject({ channelsAfter: 12 });
    expect(byName.has('fc_1')).toBe(false);
    // conv_1 (6) and fc_2 (24) are ranked together: half of their 30 channels go.
    const removed = ['conv_1', 'fc_2'].reduce(
      (n, l) => n + byName.get(l)!.channelsBefore - byName.get(l)!.channelsAfter,
      0,
    );
    expect(removed).toBe(15);
  });

  it('a per-layer sparsity that would empty a named layer is an error pointing at the override block', async () => {
    const { options, ctx } = resolved(
      pruneChannels,
      { sparsity: 0.5, layers: ['conv_1'] },
      [{ layers: ['conv_1'], passes: { 'prune-channels': { sparsity: 0.95 } } }],
      lenet,
    );
    await expect(pruneChannels.apply(lenet, options, ctx)).rejects.toThrow(
      "the override's `sparsity: 0.95` at r.yaml:overrides[0].prune-channels.sparsity would remove every channel of layer conv_1: it has 6 channels, and removing round(0.95·6) = 6 would leave none.",
    );
  });

  it('a group joined by an Add is pruned as one: one skipped member keeps it whole; members that disagree take the smallest sparsity', async () => {
    const built = buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.5 }, shape);
    const m = await fromLayersModel(tf, built);
    built.dispose();
    const groupBlocks: Block[] = [
      { layers: ['block_2_project'], passes: { 'prune-channels': { sparsity: 0.25 } } },
      { layers: ['block_4_project'], passes: { 'prune-channels': 'skip' } },
    ];
    const { options, ctx } = resolved(pruneChannels, { sparsity: 0.5 }, groupBlocks, m);
    const r = await pruneChannels.apply(m, options, ctx);
    const stats = r.stats as unknown as Stats & { groups: { layers: string[]; channelsAfter: number }[] };
    const channels = (name: string) => stats.layers.find((l) => l.layer === name)?.channelsAfter;
    expect([channels('block_1_project'), channels('block_2_project')]).toEqual([12, 12]);
    expect(stats.layers.find((l) => l.layer === 'block_1_project')!.override).toEqual({
      sparsity: 0.25,
      criterion: 'l1',
    });
    expect([channels('block_6_project'), channels('block_7_project')]).toEqual([16, 16]);
    expect(stats.skipped).toContainEqual({
      layers: ['block_3_project', 'block_4_project', 'block_5_project'],
      reason: 'block_4_project is skipped by an override, and the group is pruned as one',
    });
    const t = Topology.fromModel(r.model.json);
    expect(t.outputShape('block_2_add')).toEqual([null, 14, 14, 12]);
    expect(t.outputShape('block_5_add')).toEqual([null, 7, 7, 16]);
  });
});

describe('finetune: skip freezes', () => {
  it('skipped layers come out bit-identical (BN statistics included), the others train; none stays marked untrainable', async () => {
    const m = await mobilenetWithRealBatchNorms(8);
    const blocks: Block[] = [
      { layers: ['conv1', 'conv1_bn', 're:conv_pw_\\d'], passes: { finetune: 'skip' } },
      { layers: ['conv_pw_1'], passes: { finetune: {} } },
    ];
    const data = await loadMnist('train', 128);
    const { options, ctx } = resolved(finetune, { epochs: 1, batchSize: 32, learningRate: 0.01, seed: 2 }, blocks, m, {
      data: async () => data,
    });
    const tensors = tf.memory().numTensors;
    const { model, stats } = await finetune.apply(m, options, ctx);
    expect(tf.memory().numTensors).toBe(tensors);
    expectDeclaredStats(finetune, stats);
    expect(stats.frozen).toEqual([
      'conv1',
      'conv1_bn',
      'conv_pw_2',
      'conv_pw_3',
      'conv_pw_4',
      'conv_pw_5',
      'conv_pw_6',
    ]);
    const changed = (name: string) => !sameBits(weight(model, name), weight(m, name));
    for (const name of [
      'conv1/kernel',
      'conv1_bn/gamma',
      'conv1_bn/beta',
      'conv1_bn/moving_mean',
      'conv1_bn/moving_variance',
      'conv_pw_2/kernel',
      'conv_pw_6/kernel',
    ]) {
      expect(changed(name), name).toBe(false);
    }
    // conv_pw_1 was taken back by the second block; its BN (never skipped) trains and is re-estimated.
    for (const name of [
      'conv_pw_1/kernel',
      'conv_dw_1/depthwise_kernel',
      'conv_pw_1_bn/gamma',
      'conv_pw_2_bn/moving_mean',
      'predictions/kernel',
    ]) {
      expect(changed(name), name).toBe(true);
    }
    expect(JSON.stringify(model.json)).not.toContain('"trainable":false');
  });

  it('with every layer skipped, the model passes through unchanged', async () => {
    const data = await loadMnist('train', 64);
    const { options, ctx } = resolved(finetune, {}, [{ layers: ['*'], passes: { finetune: 'skip' } }], lenet, {
      data: async () => data,
    });
    const { model, stats } = await finetune.apply(lenet, options, ctx);
    expect(model).toBe(lenet);
    expectDeclaredStats(finetune, stats);
    expect(stats.frozen).toEqual(['conv_1', 'conv_2', 'fc_1', 'fc_2', 'predictions']);
  });
});
