/**
 * Per-layer overrides in the four weight passes (quantize, prune, cluster, encode). Each pass gets its
 * layers' options from the real resolver (src/plan/layers.ts, as the executor builds it) on a small MLP
 * trained on MNIST, and the output's weights must show them: dtypes in the manifest, exact sparsities,
 * cluster counts, weights left unencoded; skipped layers come out byte-identical; the outputs load through
 * mcbuild/runtime (and stock TF.js when every dtype is TF.js's own) and predict close to the original.
 * Last, a recipe with an `overrides:` block built end to end.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/index.js';
import type { Dataset } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import {
  modelToFiles,
  weightByteLength,
  type StoredModel,
  type WeightSpec,
  decodeWeights,
  modelLayers,
} from '../../src/model/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { trainModel } from '../../src/engine/train.js';
import { cluster } from '../../src/passes/cluster/index.js';
import { recordedWeights } from '../../src/passes/constraints.js';
import { encode } from '../../src/passes/encode/index.js';
import { finetune } from '../../src/passes/finetune/index.js';
import type { PassContext, PassDefinition } from '../../src/passes/index.js';
import { prune, type LayerSparsity } from '../../src/passes/prune/index.js';
import { quantize } from '../../src/passes/quantize/index.js';
import { layerResolver, type LayerRule } from '../../src/plan/layers.js';
import { formatDataPath, type DataPath } from '../../src/recipe/index.js';
import { mcbuildLoader } from '../../src/runtime/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

let trained: StoredModel;
let train: Dataset;
let test: Dataset;

const base: PassContext = {
  engine: () => loadEngine('wasm'),
  data: async () => train,
  signal: new AbortController().signal,
  progress: () => {},
};

beforeAll(async () => {
  await loadEngine('wasm');
  // fc_1 [784, 32], fc_2 [32, 16], fc_3 [16, 16], predictions [16, 10]: all Dense.
  const model = buildArchitecture(
    tf,
    'mlp',
    { hidden: [32, 16, 16] },
    { inputShape: [28, 28, 1], numClasses: 10, seed: 3 },
  );
  train = await loadMnist('train', 512);
  await trainModel(tf, model, train, { epochs: 3, batchSize: 32, learningRate: 0.005, optimizer: 'adam', seed: 1 });
  trained = await fromLayersModel(tf, model);
  model.dispose();
  test = await loadMnist('test', 300);
});

type Block = Omit<LayerRule, 'block'>;

/** The pass's options for `raw` and a context whose layerOptions is the real resolver for `blocks`, as the executor builds them. */
function withOverrides<O extends object>(
  pass: PassDefinition<O>,
  raw: Record<string, unknown>,
  blocks: Block[],
  model: StoredModel,
) {
  const path: DataPath = ['passes', 0, pass.meta.name];
  // Positions name the data path, so an error shows which option (entry or block) it points at.
  const placeAt = (p: DataPath) => `r.yaml:${formatDataPath(p)}`;
  const place = { path, at: (o?: string) => placeAt(o === undefined ? path : [...path, o]) };
  const options = pass.resolveOptions(raw, place);
  const rules: LayerRule[] = blocks.map((b, block) => ({ block, ...b }));
  const resolver = layerResolver(pass, { path, raw }, options, rules, modelLayers(model.json), placeAt);
  const ctx: PassContext = { ...base, place, layerOptions: resolver.optionsFor };
  return { options, ctx, resolver };
}

/** Each weight's manifest entry and stored bytes, by name. */
function storedWeights(model: StoredModel): Map<string, { spec: WeightSpec; bytes: Uint8Array }> {
  const out = new Map<string, { spec: WeightSpec; bytes: Uint8Array }>();
  let off = 0;
  for (const spec of model.weightSpecs) {
    const n = weightByteLength(spec);
    out.set(spec.name, { spec, bytes: model.weightData.slice(off, off + n) });
    off += n;
  }
  return out;
}

function expectSameStored(a: StoredModel, b: StoredModel, names: string[]): void {
  const x = storedWeights(a);
  const y = storedWeights(b);
  for (const name of names) {
    expect(y.get(name)!.spec, name).toEqual(x.get(name)!.spec);
    expect(Buffer.from(y.get(name)!.bytes).equals(Buffer.from(x.get(name)!.bytes)), name).toBe(true);
  }
}

function values(model: StoredModel): Map<string, Float32Array> {
  return new Map(decodeWeights(model).map((w) => [w.spec.name, w.values as Float32Array]));
}

const zeros = (v: Float32Array) => v.reduce((n, x) => n + (x === 0 ? 1 : 0), 0);
const distinct = (v: Float32Array) => new Set(v).size;
const dtypeOf = (model: StoredModel) =>
  Object.fromEntries(model.weightSpecs.map((s) => [s.name, s.quantization?.dtype ?? s.dtype]));

/** A fetch over an in-memory model folder served at http://h/m/. */
function memoryFetch(files: ReadonlyMap<string, Uint8Array>): typeof fetch {
  return async (input: string | URL | Request) => {
    const body = files.get(new URL(input instanceof Request ? input.url : input).pathname.replace(/^\/m\//, ''));
    return body ? new Response(body) : new Response(null, { status: 404 });
  };
}

/** Class probabilities on the test samples: as mcbuild measures, through mcbuild/runtime, or through stock TF.js alone. */
async function predict(model: StoredModel, via: 'mcbuild' | 'runtime' | 'stock'): Promise<Float32Array> {
  const loaded =
    via === 'mcbuild'
      ? await toLayersModel(tf, model)
      : via === 'runtime'
        ? await tf.loadLayersModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(modelToFiles(model)) }))
        : await tf.loadLayersModel(
            tf.io.fromMemory({
              modelTopology: model.json.modelTopology as object,
              weightSpecs: model.weightSpecs as tf.io.WeightsManifestEntry[],
              weightData: model.weightData.slice().buffer,
            }),
          );
  const out = tf.tidy(() => loaded.predict(tf.tensor(test.x, [test.count, 28, 28, 1])) as tf.Tensor);
  const p = (await out.data()) as Float32Array;
  out.dispose();
  loaded.dispose();
  return p;
}

/** Fraction of test samples whose predicted class agrees. */
function agreement(a: Float32Array, b: Float32Array): number {
  const argmax = (p: Float32Array, i: number) => {
    let best = 0;
    for (let c = 1; c < 10; c++) if (p[i * 10 + c]! > p[i * 10 + best]!) best = c;
    return best;
  };
  let same = 0;
  for (let i = 0; i < test.count; i++) same += argmax(a, i) === argmax(b, i) ? 1 : 0;
  return same / test.count;
}

describe('quantize per layer', () => {
  it('mixes int4, float16 and uint8 in one model as the blocks say; loads through mcbuild/runtime and predicts close to the original', async () => {
    const { options, ctx, resolver } = withOverrides(
      quantize,
      { dtype: 'uint8' },
      [
        { layers: ['re:fc_\\d'], set: { bits: 4, granularity: 'per-channel' } },
        // A later block wins option by option: its dtype replaces the earlier block's bits.
        { layers: ['fc_2'], set: { dtype: 'float16', granularity: 'per-tensor' } },
      ],
      trained,
    );
    const { model, stats } = await quantize.apply(trained, options, ctx);
    expect(dtypeOf(model)).toEqual({
      'fc_1/kernel': 'int4',
      'fc_1/bias': 'float32', // packed formats store kernels only
      'fc_2/kernel': 'float16',
      'fc_2/bias': 'float16',
      'fc_3/kernel': 'int4',
      'fc_3/bias': 'float32',
      'predictions/kernel': 'uint8',
      'predictions/bias': 'uint8',
    });
    expect(model.weightSpecs.find((s) => s.name === 'fc_1/kernel')!.quantization).toMatchObject({
      granularity: 'per-channel',
      axis: 1,
    });
    expect(stats).toMatchObject({
      dtype: 'uint8',
      weightsQuantized: 6,
      weightsSkipped: 2,
      weightsByDtype: { int4: 2, float16: 2, uint8: 2 },
    });
    expect(
      resolver
        .overridden()
        .map((r) => r.layer)
        .sort(),
    ).toEqual(['fc_1', 'fc_2', 'fc_3']);
    // Each layer's bytes are exactly what the pass writes for that layer's options on their own.
    const allHalf = (await quantize.apply(trained, quantize.resolveOptions({ dtype: 'float16' }, ctx.place!), base))
      .model;
    expectSameStored(allHalf, model, ['fc_2/kernel', 'fc_2/bias']);
    const original = await predict(trained, 'mcbuild');
    const measured = await predict(model, 'mcbuild');
    const viaRuntime = await predict(model, 'runtime');
    expect(Array.from(viaRuntime)).toEqual(Array.from(measured));
    expect(agreement(viaRuntime, original)).toBeGreaterThanOrEqual(0.93);
  });

  it('with TF.js dtypes only (float16, uint16, uint8) stock TF.js loads the mixed model and predicts what mcbuild measured', async () => {
    const { options, ctx } = withOverrides(
      quantize,
      { bits: 8 },
      [
        { layers: ['fc_1'], set: { dtype: 'float16' } }, // replaces the entry's bits
        { layers: ['predictions'], set: { bits: 16 } },
      ],
      trained,
    );
    const { model } = await quantize.apply(trained, options, ctx);
    expect(dtypeOf(model)).toEqual({
      'fc_1/kernel': 'float16',
      'fc_1/bias': 'float16',
      'fc_2/kernel': 'uint8',
      'fc_2/bias': 'uint8',
      'fc_3/kernel': 'uint8',
      'fc_3/bias': 'uint8',
      'predictions/kernel': 'uint16',
      'predictions/bias': 'uint16',
    });
    const measured = await predict(model, 'mcbuild');
    expect(Array.from(await predict(model, 'stock'))).toEqual(Array.from(measured));
    expect(agreement(measured, await predict(trained, 'mcbuild'))).toBeGreaterThanOrEqual(0.97);
  });

  it("skip keeps a layer's stored bytes, also of an earlier quantization; with layers and classes a layer must match both", async () => {
    const earlier = (
      await quantize.apply(trained, quantize.resolveOptions({ dtype: 'uint16' }, { path: [], at: () => '' }), base)
    ).model;
    const { options, ctx } = withOverrides(
      quantize,
      { dtype: 'int8', granularity: 'per-channel' },
      [
        { layers: ['predictions'], set: 'skip' },
        { layers: ['fc_*'], classes: ['Dense'], set: { dtype: 'float16', granularity: 'per-tensor' } },
        { layers: ['fc_1'], classes: ['Conv2D'], set: 'skip' }, // fc_1 is Dense: no match
      ],
      earlier,
    );
    const { model, stats } = await quantize.apply(earlier, options, ctx);
    expectSameStored(earlier, model, ['predictions/kernel', 'predictions/bias']);
    expect(dtypeOf(model)).toMatchObject({
      'fc_1/kernel': 'float16',
      'fc_2/bias': 'float16',
      'fc_3/kernel': 'float16',
      'predictions/kernel': 'uint16',
    });
    expect(stats).toMatchObject({
      weightsQuantized: 6,
      weightsSkipped: 2,
      weightsByDtype: { float16: 6 },
      skippedLayers: ['predictions'],
    });
    expect(Array.from(await predict(model, 'stock'))).toEqual(Array.from(await predict(model, 'mcbuild')));
  });

  it("a graph model's layers are the nodes reading its weights: a block on one changes only its weights; the model predicts as mcbuild measured", async () => {
    const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
    const constNode = (name: string, shape: number[]) => ({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(shape) } }, dtype: { type: 'DT_FLOAT' } },
    });
    const matMul = (name: string, input: string, kernel: string) => ({
      name,
      op: 'MatMul',
      input: [input, kernel],
      attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
    });
    const graph: StoredModel = {
      json: {
        format: 'graph-model',
        generatedBy: 'test',
        convertedBy: 'hand',
        modelTopology: {
          node: [
            { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 12]) } } },
            constNode('net/a/kernel', [12, 8]),
            matMul('net/a/MatMul', 'x', 'net/a/kernel'),
            constNode('net/b/kernel', [8, 4]),
            matMul('net/b/MatMul', 'net/a/MatMul', 'net/b/kernel'),
          ],
          library: {},
          versions: { producer: 1 },
        },
      },
      weightSpecs: [
        { name: 'net/a/kernel', shape: [12, 8], dtype: 'float32' },
        { name: 'net/b/kernel', shape: [8, 4], dtype: 'float32' },
      ],
      weightData: new Uint8Array(Float32Array.from({ length: 96 + 32 }, (_, i) => Math.sin(i * 1.3) * 0.5).buffer),
    };
    expect(modelLayers(graph.json, graph.weightSpecs).map((l) => l.name)).toEqual(['net/a/MatMul', 'net/b/MatMul']);
    const { options, ctx } = withOverrides(
      quantize,
      { dtype: 'int4', granularity: 'per-channel' },
      [{ layers: ['net/b/MatMul'], set: { dtype: 'float16', granularity: 'per-tensor' } }],
      graph,
    );
    const { model } = await quantize.apply(graph, options, ctx);
    expect(dtypeOf(model)).toEqual({ 'net/a/kernel': 'int4', 'net/b/kernel': 'float16' });
    const { toGraphModel } = await import('../../src/engine/runtime.js');
    const measured = await toGraphModel(tf, model);
    const viaRuntime = await tf.loadGraphModel(
      mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(modelToFiles(model)) }),
    );
    const x = tf.tensor2d(
      Float32Array.from({ length: 36 }, (_, i) => Math.cos(i)),
      [3, 12],
    );
    expect(Array.from(await (viaRuntime.predict(x) as tf.Tensor).data())).toEqual(
      Array.from(await (measured.predict(x) as tf.Tensor).data()),
    );
    x.dispose();
    measured.dispose();
    viaRuntime.dispose();
  });

  it("blocks that touch no weighted layer leave every weight pass's output byte for byte as without overrides", async () => {
    // `flatten` has no weights: every weight takes the entry's options, exactly as when no resolver is given.
    const clustered = (
      await cluster.apply(trained, cluster.resolveOptions({ bits: 3 }, { path: [], at: () => '' }), base)
    ).model;
    const cases: [PassDefinition<object>, Record<string, unknown>, Record<string, unknown> | 'skip', StoredModel][] = [
      [
        quantize,
        { dtype: 'int4', granularity: 'per-group', groupSize: 16 },
        { dtype: 'uint8', granularity: 'per-tensor' },
        trained,
      ],
      [prune, { sparsity: 0.6, scope: 'global' }, { sparsity: 0.1 }, trained],
      [cluster, { bits: 3 }, { clusters: 5 }, trained],
      [encode, {}, 'skip', clustered],
    ];
    for (const [pass, raw, set, input] of cases) {
      const { options, ctx } = withOverrides(pass, raw, [{ layers: ['flatten'], set }], input);
      const a = await pass.apply(input, options, base);
      const b = await pass.apply(input, options, ctx);
      expect(b.model.weightSpecs, pass.meta.name).toEqual(a.model.weightSpecs);
      expect(Buffer.from(b.model.weightData).equals(Buffer.from(a.model.weightData)), pass.meta.name).toBe(true);
      expect(b.model.json).toEqual(a.model.json);
    }
  });
});

describe('prune per layer', () => {
  /** Every group of M consecutive weights along the input dimension of a [in, out] kernel keeps at most N. */
  function expectNM(v: Float32Array, [rows, cols]: [number, number], n: number, m: number): void {
    for (let g = 0; g < rows; g += m) {
      for (let c = 0; c < cols; c++) {
        let kept = 0;
        for (let r = g; r < g + m; r++) kept += v[r * cols + c] !== 0 ? 1 : 0;
        expect(kept).toBeLessThanOrEqual(n);
      }
    }
  }

  it('scope layer: each layer at its own sparsity or pattern, exactly; a skipped layer is untouched, not recorded, and a later finetune moves it freely', async () => {
    const { options, ctx } = withOverrides(
      prune,
      { sparsity: 0.5 },
      [
        { layers: ['fc_1', 'fc_3'], set: { sparsity: 0.8 } },
        { layers: ['predictions'], set: 'skip' },
        { layers: ['fc_3'], set: { pattern: '2:4' } }, // replaces the sparsity the first block gave fc_3
      ],
      trained,
    );
    const { model, stats } = await prune.apply(trained, options, ctx);
    const w = values(model);
    expect(zeros(w.get('fc_1/kernel')!)).toBe(Math.round(0.8 * 784 * 32));
    expect(zeros(w.get('fc_2/kernel')!)).toBe(Math.round(0.5 * 32 * 16));
    expect(zeros(w.get('fc_3/kernel')!)).toBe((16 * 16) / 2);
    expectNM(w.get('fc_3/kernel')!, [16, 16], 2, 4);
    expectSameStored(trained, model, ['predictions/kernel', 'predictions/bias']);
    expect(recordedWeights(model.json, 'prunedWeights')).toEqual(['fc_1/kernel', 'fc_2/kernel', 'fc_3/kernel']);
    const layers = stats.layers as LayerSparsity[];
    expect(layers.map((l) => [l.layer, l.target, l.pattern])).toEqual([
      ['fc_1/kernel', 0.8, undefined],
      ['fc_2/kernel', undefined, undefined],
      ['fc_3/kernel', undefined, '2:4'],
    ]);
    expect(stats).toMatchObject({ scope: 'layer', target: 0.5, skippedLayers: ['predictions'] });
    // finetune keeps the pruned kernels' zeros and does not zero anything of the skipped one.
    const tuned = (
      await finetune.apply(
        model,
        finetune.resolveOptions({ epochs: 1, batchSize: 32, learningRate: 0.01 }, ctx.place!),
        base,
      )
    ).model;
    const t = values(tuned);
    expect(zeros(t.get('fc_1/kernel')!)).toBe(zeros(w.get('fc_1/kernel')!));
    expect(zeros(t.get('fc_3/kernel')!)).toBe(zeros(w.get('fc_3/kernel')!));
    const before = w.get('predictions/kernel')!;
    const after = t.get('predictions/kernel')!;
    expect(zeros(after)).toBe(zeros(before));
    expect(after.filter((x, i) => x !== before[i]).length).toBeGreaterThan(before.length / 2);
  });

  it("scope global: layers with their own sparsity or pattern leave the pool; one threshold over the rest reaches the entry's sparsity", async () => {
    const { options, ctx } = withOverrides(
      prune,
      { sparsity: 0.6, scope: 'global' },
      [
        { layers: ['fc_2'], set: { sparsity: 0.25 } },
        { layers: ['fc_3'], set: { pattern: '1:4' } }, // a pattern drops the entry's scope for its layer
      ],
      trained,
    );
    const { model, stats } = await prune.apply(trained, options, ctx);
    const before = values(trained);
    const w = values(model);
    expect(zeros(w.get('fc_2/kernel')!)).toBe(Math.round(0.25 * 32 * 16));
    expect(zeros(w.get('fc_3/kernel')!)).toBe((16 * 16 * 3) / 4);
    expectNM(w.get('fc_3/kernel')!, [16, 16], 1, 4);
    const pool = ['fc_1/kernel', 'predictions/kernel'];
    const total = 784 * 32 + 16 * 10;
    expect(pool.reduce((n, k) => n + zeros(w.get(k)!), 0)).toBe(Math.round(0.6 * total));
    // One threshold over the pool: no pruned weight is larger than a kept one, in either kernel.
    let maxPruned = 0;
    let minKept = Infinity;
    for (const k of pool) {
      before.get(k)!.forEach((x, i) => {
        if (w.get(k)![i] === 0) maxPruned = Math.max(maxPruned, Math.abs(x));
        else minKept = Math.min(minKept, Math.abs(x));
      });
    }
    expect(maxPruned).toBeLessThanOrEqual(minKept);
    // …and it is not the per-layer result: the pool's kernels end at different sparsities.
    expect(zeros(w.get('predictions/kernel')!)).not.toBe(Math.round(0.6 * 160));
    expect((stats.layers as LayerSparsity[]).find((l) => l.layer === 'fc_2/kernel')).toMatchObject({
      target: 0.25,
      sparsity: Math.round(0.25 * 512) / 512,
    });
  });

  it('gradual: each layer follows the schedule to its own target; a skipped layer is frozen and comes out bit-identical; no leaks', async () => {
    const { options, ctx } = withOverrides(
      prune,
      { sparsity: 0.5, schedule: { steps: 16, frequency: 4 }, learningRate: 0.003, batchSize: 32 },
      [
        { layers: ['fc_2'], set: { sparsity: 0.75 } },
        { layers: ['fc_3'], set: { pattern: '2:4' } },
        { layers: ['predictions'], set: 'skip' },
      ],
      trained,
    );
    const tensors = tf.memory().numTensors;
    const { model, stats } = await prune.apply(trained, options, ctx);
    expect(tf.memory().numTensors).toBe(tensors);
    const before = values(trained);
    const w = values(model);
    expect(zeros(w.get('fc_1/kernel')!)).toBe(Math.round(0.5 * 784 * 32));
    expect(zeros(w.get('fc_2/kernel')!)).toBe(Math.round(0.75 * 32 * 16));
    expect(zeros(w.get('fc_3/kernel')!)).toBe((16 * 16) / 2);
    expectNM(w.get('fc_3/kernel')!, [16, 16], 2, 4);
    // The others trained: most kept weights of fc_1 moved.
    const kept = w.get('fc_1/kernel')!.filter((x) => x !== 0).length;
    expect(
      w.get('fc_1/kernel')!.filter((x, i) => x !== 0 && x !== before.get('fc_1/kernel')![i]).length,
    ).toBeGreaterThan(kept / 2);
    expectSameStored(trained, model, ['predictions/kernel', 'predictions/bias']);
    expect(stats).toMatchObject({
      frozen: ['predictions'],
      skippedLayers: ['predictions'],
      schedule: { steps: 16, pruningSteps: 1 + 4 },
    });
    expect(recordedWeights(model.json, 'prunedWeights')).toEqual(['fc_1/kernel', 'fc_2/kernel', 'fc_3/kernel']);
    // The freeze does not leak into model.json (a later pass would not train the layer).
    expect(JSON.stringify(model.json.modelTopology)).not.toMatch(/"trainable":false/);
  });

  it('a pattern an override gives a layer it does not fit is refused, pointing at the block', async () => {
    const { options, ctx } = withOverrides(
      prune,
      { sparsity: 0.5 },
      [{ layers: ['fc_2'], set: { pattern: '3:7' } }],
      trained,
    );
    await expect(prune.apply(trained, options, ctx)).rejects.toThrow(
      /the override's prune pattern \(at r\.yaml:overrides\[0\]\.prune\.pattern\) "3:7" does not fit layer fc_2: its kernel fc_2\/kernel has shape \[32, 16\]/,
    );
  });
});

describe('cluster per layer', () => {
  it('each layer gets its own clusters (as clusters or bits) and init; a skipped kernel is untouched, not recorded, and trains freely later', async () => {
    const { options, ctx } = withOverrides(
      cluster,
      { bits: 4 },
      [
        { layers: ['fc_1'], set: { clusters: 12 } }, // replaces the entry's bits
        { layers: ['fc_2'], set: { bits: 3, init: 'linear' } },
        { layers: ['predictions'], set: 'skip' },
      ],
      trained,
    );
    const { model, stats } = await cluster.apply(trained, options, ctx);
    const w = values(model);
    expect(distinct(w.get('fc_1/kernel')!)).toBe(12);
    expect(distinct(w.get('fc_2/kernel')!)).toBe(8);
    expect(distinct(w.get('fc_3/kernel')!)).toBe(16);
    expect(distinct(w.get('predictions/kernel')!)).toBe(160);
    expectSameStored(trained, model, ['predictions/kernel', 'predictions/bias']);
    expect(recordedWeights(model.json, 'clusteredWeights')).toEqual(['fc_1/kernel', 'fc_2/kernel', 'fc_3/kernel']);
    expect((stats.layers as { weight: string; clusters: number }[]).map((l) => [l.weight, l.clusters])).toEqual([
      ['fc_1/kernel', 12],
      ['fc_2/kernel', 8],
      ['fc_3/kernel', 16],
    ]);
    expect(stats).toMatchObject({ clusters: 16, skippedLayers: ['predictions'] });
    // fc_2 is exactly what the pass makes of it with { bits: 3, init: linear } for the whole model.
    const linear = values(
      (await cluster.apply(trained, cluster.resolveOptions({ bits: 3, init: 'linear' }, ctx.place!), base)).model,
    );
    expect(Array.from(w.get('fc_2/kernel')!)).toEqual(Array.from(linear.get('fc_2/kernel')!));
    expect(agreement(await predict(model, 'runtime'), await predict(trained, 'mcbuild'))).toBeGreaterThanOrEqual(0.85);
    // finetune keeps the clustered kernels' values shared; the skipped kernel is not constrained.
    const tuned = values(
      (
        await finetune.apply(
          model,
          finetune.resolveOptions({ epochs: 1, batchSize: 32, learningRate: 0.01 }, ctx.place!),
          base,
        )
      ).model,
    );
    expect(distinct(tuned.get('fc_1/kernel')!)).toBeLessThanOrEqual(12);
    expect(Array.from(tuned.get('predictions/kernel')!)).not.toEqual(Array.from(w.get('predictions/kernel')!));
  });

  it('too few weights for the clusters an override asks for: the error points at the block', async () => {
    const { options, ctx } = withOverrides(
      cluster,
      { bits: 2 },
      [{ layers: ['predictions'], set: { clusters: 1000 } }],
      trained,
    );
    await expect(cluster.apply(trained, options, ctx)).rejects.toThrow(
      /layer predictions \(weight predictions\/kernel\) has only 160 non-zero weights, fewer than the 1000 clusters asked for by the override for this layer at r\.yaml:overrides\[0\]\.cluster\.clusters/,
    );
  });
});

describe('encode per layer', () => {
  it("a skipped layer's weights are stored as they came; the rest are entropy-coded; predictions exactly as before, through mcbuild/runtime", async () => {
    const clustered = (
      await cluster.apply(trained, cluster.resolveOptions({ bits: 3 }, { path: [], at: () => '' }), base)
    ).model;
    const { options, ctx } = withOverrides(encode, {}, [{ layers: ['fc_1'], set: 'skip' }], clustered);
    const { model, stats } = await encode.apply(clustered, options, ctx);
    expectSameStored(clustered, model, ['fc_1/kernel', 'fc_1/bias']);
    const encoded = (name: string) =>
      (model.weightSpecs.find((s) => s.name === name)!.quantization as { encoding?: unknown } | undefined)?.encoding !==
      undefined;
    expect(['fc_2/kernel', 'fc_3/kernel', 'predictions/kernel'].filter(encoded)).toEqual([
      'fc_2/kernel',
      'fc_3/kernel',
      'predictions/kernel',
    ]);
    expect(stats.skipped).toEqual(
      expect.arrayContaining([
        { name: 'fc_1/kernel', reason: 'layer fc_1 is skipped by an override' },
        { name: 'fc_1/bias', reason: 'layer fc_1 is skipped by an override' },
      ]),
    );
    expect(stats.skippedLayers).toEqual(['fc_1']);
    expect(model.weightData.byteLength).toBeLessThan(clustered.weightData.byteLength);
    expect(Array.from(await predict(model, 'runtime'))).toEqual(Array.from(await predict(clustered, 'mcbuild')));
  });
});

describe('a recipe with per-layer overrides', () => {
  it("builds: model.json has each layer's dtype, the skipped layer stays float32, report.json passes and records the overrides", async () => {
    const dir = tempDir();
    const file = writeText(
      join(dir, 'o.yaml'),
      tinyRecipe({
        model: `  train:
    architecture: mlp
    options: { hidden: [32, 16] }
    dataset: mnist
    limit: 400
    epochs: 2
    batchSize: 32
    seed: 7`,
        passes: '  - quantize: { dtype: uint8 }',
        thresholds: '  accuracy: { maxDrop: 0.05 }',
        extra: `overrides:
  - layers: ["fc_*"]
    classes: [Dense]
    quantize: { bits: 4, granularity: per-channel }
  - layers: [fc_2]
    quantize: { dtype: float16, granularity: per-tensor }
  - layers: ["re:pred.*"]
    quantize: skip
`,
      }),
    );
    const result = await build(file, { cacheDir: join(dir, 'c'), backend: 'wasm' });
    expect(result.report.thresholds, JSON.stringify(result.report.metrics)).toEqual([
      expect.objectContaining({ pass: true }),
    ]);
    const json = JSON.parse(readFileSync(join(dir, 'out', 'model.json'), 'utf8')) as {
      weightsManifest: { weights: WeightSpec[] }[];
    };
    const dtypes = Object.fromEntries(
      json.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.quantization?.dtype ?? w.dtype]),
    );
    expect(dtypes).toEqual({
      'fc_1/kernel': 'int4',
      'fc_1/bias': 'float32',
      'fc_2/kernel': 'float16',
      'fc_2/bias': 'float16',
      'predictions/kernel': 'float32',
      'predictions/bias': 'float32',
    });
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
      passes: { id: string; stats: Record<string, unknown>; overridden?: { layer: string; skip?: boolean }[] }[];
    };
    const pass = report.passes.find((p) => p.id === 'pass-1-quantize')!;
    expect(pass.stats).toMatchObject({
      dtype: 'uint8',
      weightsByDtype: { int4: 1, float16: 2 },
      skippedLayers: ['predictions'],
    });
    expect(pass.overridden!.map((o) => [o.layer, o.skip ?? false]).sort()).toEqual([
      ['fc_1', false],
      ['fc_2', false],
      ['predictions', true],
    ]);
  });
});
