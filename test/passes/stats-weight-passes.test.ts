/**
 * What quantize, cluster, prune, encode and shard return as `stats` is what report.json holds for their steps,
 * and each pass's definition describes it (meta.stats, the report schema's `passes[].stats`). Here real runs of
 * each pass, through the code paths that add or drop fields (overrides that skip a layer or give it other
 * options, patterns that leave depthwise kernels alone, a schedule, integer weights), are checked against that
 * schema as the report tests compile it.
 */
import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import type { StoredModel } from '../../src/model/index.js';
import { cluster } from '../../src/passes/cluster/index.js';
import { encode } from '../../src/passes/encode/index.js';
import type { AnyPass, LayerOptions, PassContext } from '../../src/passes/index.js';
import { prune } from '../../src/passes/prune/index.js';
import { quantize } from '../../src/passes/quantize/index.js';
import { shard } from '../../src/passes/shard/index.js';

const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
const place = { path: ['passes', 0], at: () => 'r.yaml:1:1' };

let mlp: StoredModel; // fc_1, fc_2, predictions: Dense
let conv: StoredModel; // conv1 (Conv2D), dw (DepthwiseConv2D), bn (BatchNormalization), fc (Dense)
let train: Dataset;

const base: PassContext = {
  engine: () => loadEngine('wasm'),
  data: async () => train,
  signal: new AbortController().signal,
  progress: () => {},
};

/** A context whose overrides give layer `layer` other options (`null`: skip it). */
function overriding<O>(options: O, layer: string, own: O | null): PassContext {
  const layerOptions: LayerOptions<O> = (l) => (l === layer ? own : options);
  return { ...base, layerOptions };
}

/** Runs `pass` and checks its stats against its definition's schema; returns them. */
async function statsOf(
  pass: AnyPass,
  model: StoredModel,
  raw: Record<string, unknown>,
  ctx: (options: unknown) => PassContext = () => base,
): Promise<Record<string, unknown>> {
  const options = pass.resolveOptions(raw, place);
  const { stats } = await pass.apply(model, options, ctx(options));
  const validate = ajv.compile(pass.meta.stats);
  // Through JSON, as report.json stores them.
  const stored = JSON.parse(JSON.stringify(stats)) as Record<string, unknown>;
  expect(validate(stored), `${pass.meta.name} ${JSON.stringify(raw)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  // The schema is closed: a field it does not describe is refused.
  expect(validate({ ...stored, unknownField: 1 })).toBe(false);
  return stored;
}

beforeAll(async () => {
  await loadEngine('wasm');
  const built = buildArchitecture(
    tf,
    'mlp',
    { hidden: [16, 16] },
    { inputShape: [28, 28, 1], numClasses: 10, seed: 1 },
  );
  mlp = await fromLayersModel(tf, built);
  built.dispose();
  const init = (seed: number) => tf.initializers.randomUniform({ minval: -1, maxval: 1, seed });
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv1', inputShape: [6, 6, 2], filters: 4, kernelSize: 3, kernelInitializer: init(1) }),
      tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthwiseInitializer: init(2) }),
      tf.layers.batchNormalization({ name: 'bn', gammaInitializer: init(3) }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ name: 'fc', units: 4, kernelInitializer: init(4) }),
    ],
  });
  conv = await fromLayersModel(tf, m);
  m.dispose();
  train = await loadMnist('train', 64);
});

describe('the stats of each weight pass match its definition', () => {
  it('quantize: TF.js formats, packed per channel with a layer skipped, and dtypes mixed per layer', async () => {
    const uint8 = await statsOf(quantize, mlp, {});
    expect(uint8).not.toHaveProperty('granularity');
    const packed = await statsOf(quantize, conv, { dtype: 'int8', granularity: 'per-channel' }, (o) =>
      overriding(o, 'fc', null),
    );
    expect(packed).toMatchObject({ granularity: 'per-channel', skippedLayers: ['fc'] });
    const mixed = await statsOf(quantize, mlp, { dtype: 'float16' }, (o) =>
      overriding(o, 'fc_2', quantize.resolveOptions({ dtype: 'int4' }, place)),
    );
    expect(mixed.weightsByDtype).toEqual({ float16: 4, int4: 1 });
  });

  it('cluster, with a layer skipped', async () => {
    const stats = await statsOf(cluster, conv, { bits: 2 }, (o) => overriding(o, 'fc', null));
    expect(stats).toMatchObject({ kernelsClustered: 2, skippedLayers: ['fc'] });
  });

  it('prune: one-shot per layer and global, with overrides; N:M leaving a depthwise kernel alone', async () => {
    const own = prune.resolveOptions({ sparsity: 0.25 }, place);
    const layer = await statsOf(prune, mlp, { sparsity: 0.5 }, (o) => overriding(o, 'fc_2', own));
    expect((layer.layers as { target?: number }[]).map((l) => l.target)).toEqual([undefined, 0.25, undefined]);
    const global = await statsOf(prune, mlp, { sparsity: 0.5, scope: 'global' }, (o) =>
      overriding(o, 'predictions', null),
    );
    expect(global).toMatchObject({ scope: 'global', skippedLayers: ['predictions'] });
    const nm = await statsOf(prune, conv, { pattern: '1:2' });
    expect(nm).toMatchObject({ pattern: '1:2', skipped: ['dw/depthwise_kernel'] });
  });

  it('prune: along a schedule with a layer frozen, and with every layer skipped', async () => {
    const raw = { sparsity: 0.5, schedule: { steps: 2, frequency: 1 }, batchSize: 32 };
    const scheduled = await statsOf(prune, mlp, raw, (o) => overriding(o, 'fc_1', null));
    expect(scheduled).toMatchObject({ frozen: ['fc_1'], schedule: { steps: 2, pruningSteps: 3, trainSamples: 64 } });
    const none = await statsOf(prune, mlp, raw, () => ({ ...base, layerOptions: () => null }));
    expect(Object.keys(none).sort()).toEqual(['frozen', 'method', 'note']);
  });

  it('encode: coded weights, and weights left as they came (integers, too many values, a skipped layer)', async () => {
    const clustered = (await cluster.apply(mlp, cluster.resolveOptions({ bits: 4 }, place), base)).model;
    const steps = new Int32Array([1, 2, 3, 4]);
    const withInts: StoredModel = {
      ...clustered,
      weightSpecs: [...clustered.weightSpecs, { name: 'counter/steps', shape: [4], dtype: 'int32' }],
      weightData: new Uint8Array([...clustered.weightData, ...new Uint8Array(steps.buffer)]),
    };
    const stats = await statsOf(encode, withInts, {}, (o) => overriding(o, 'predictions', null));
    const reasons = (stats.skipped as { reason: string }[]).map((s) => s.reason);
    expect(reasons).toContain('a int32 weight');
    expect(reasons).toContain('layer predictions is skipped by an override');
    expect(stats.weightsEncoded).toBeGreaterThan(0);
    const raw = await statsOf(encode, mlp, {});
    expect(JSON.stringify(raw.skipped)).toContain('more than 256 distinct values');
  });

  it('shard', async () => {
    await statsOf(shard, mlp, { shardBytes: '16kB' });
  });
});
