/**
 * The weight passes on a graph model as tensorflowjs_converter writes one (./converter-graph.ts): kernels are found
 * by the ops that read them (_FusedConv2D, FusedDepthwiseConv2dNative, Conv2D through an Identity, _FusedMatMul),
 * every pass changes them, and its output loads in stock tf.loadGraphModel (mcbuild/runtime for the packed formats)
 * and predicts close to the original.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import { decodeWeights, modelLayers, modelToFiles, type StoredModel } from '../../../src/model/index.js';
import { cluster } from '../../../src/passes/cluster/index.js';
import { encode } from '../../../src/passes/encode/index.js';
import type { PassContext, PassDefinition } from '../../../src/passes/index.js';
import { prune, type LayerSparsity } from '../../../src/passes/prune/index.js';
import { quantize } from '../../../src/passes/quantize/index.js';
import { shard } from '../../../src/passes/shard/index.js';
import { layerResolver, type LayerRule } from '../../../src/plan/layers.js';
import { formatDataPath, type DataPath } from '../../../src/recipe/index.js';
import { converterGraph, NODES, P, predictGraph } from './converter-graph.js';

const KERNELS = [
  `${P}/conv1/Conv2D_weights`,
  `${P}/dw/depthwise_weights`,
  `${P}/pw/Conv2D/ReadVariableOp`,
  `${P}/logits/MatMul/ReadVariableOp`,
];

const base: PassContext = {
  engine: () => loadEngine('wasm'),
  data: () => Promise.reject(new Error('reads no data')),
  signal: new AbortController().signal,
  progress: () => {},
};

type Block = Omit<LayerRule, 'block'>;

/** The pass's options and a context with the real override resolver, as the executor builds them. */
function run<O extends object>(
  pass: PassDefinition<O>,
  raw: Record<string, unknown>,
  model: StoredModel,
  blocks: Block[] = [],
) {
  const path: DataPath = ['passes', 0, pass.meta.name];
  const placeAt = (p: DataPath) => `r.yaml:${formatDataPath(p)}`;
  const place = { path, at: (o?: string) => placeAt(o === undefined ? path : [...path, o]) };
  const options = pass.resolveOptions(raw, place, { modelAt: 'r.yaml:model', kind: 'graph' });
  const rules: LayerRule[] = blocks.map((b, block) => ({ block, ...b }));
  const resolver = layerResolver(
    pass,
    { path, raw },
    options,
    rules,
    modelLayers(model.json, model.weightSpecs),
    placeAt,
  );
  return pass.apply(model, options, { ...base, place, layerOptions: resolver.optionsFor });
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

function valuesOf(model: StoredModel): Map<string, Float32Array | Int32Array | Uint8Array> {
  return new Map(decodeWeights(model).map((w) => [w.spec.name, w.values]));
}

let graph: StoredModel;
let original: Float32Array;

beforeAll(async () => {
  await loadEngine('wasm');
  graph = converterGraph();
  original = await predictGraph(graph);
});

describe('quantize on a graph model', () => {
  const cases: [Record<string, unknown>, number, 'stock' | 'runtime', number][] = [
    // options, weights quantized, loader, largest change in a probability
    [{ dtype: 'uint8' }, 8, 'stock', 0.02],
    [{ dtype: 'float16' }, 8, 'stock', 0.002],
    [{ dtype: 'uint16' }, 8, 'stock', 0.001],
    [{ dtype: 'int8', granularity: 'per-channel' }, 4, 'runtime', 0.02],
    [{ dtype: 'int8', granularity: 'per-tensor' }, 4, 'runtime', 0.03],
    [{ dtype: 'int4', granularity: 'per-group', groupSize: 4 }, 4, 'runtime', 0.15],
    [{ dtype: 'bfloat16' }, 8, 'runtime', 0.02],
    [{ dtype: 'int2', granularity: 'per-channel', clip: 'mse' }, 4, 'runtime', 0.5],
  ];
  for (const [raw, count, via, tolerance] of cases) {
    it(`${JSON.stringify(raw)} quantizes the kernels the ops read and loads (${via})`, async () => {
      const { model, stats } = await run(quantize, raw, graph);
      expect(stats.weightsQuantized).toBe(count);
      const dtypes = new Map(model.weightSpecs.map((s) => [s.name, s.quantization?.dtype]));
      for (const k of KERNELS) expect(dtypes.get(k), k).toBe(raw.dtype);
      // The int32 reduction axes stay as they are.
      expect(dtypes.get(`${P}/pool/Mean/reduction_indices`)).toBeUndefined();
      const after = await predictGraph(model, via);
      expect(maxDiff(after, original)).toBeGreaterThan(0);
      expect(maxDiff(after, original)).toBeLessThan(tolerance);
    });
  }

  it('per-channel scales run over the output channels (depthwise: in·multiplier), per input column for a transposed kernel', async () => {
    const { model } = await run(quantize, { dtype: 'int8', granularity: 'per-channel' }, graph);
    const axis = new Map(
      model.weightSpecs.map((s) => [s.name, (s.quantization as { axis?: number } | undefined)?.axis]),
    );
    expect(KERNELS.map((k) => axis.get(k))).toEqual([3, 2, 3, 1]);
    const t = converterGraph({ transposeB: true });
    const before = await predictGraph(t);
    const out = (await run(quantize, { dtype: 'int8', granularity: 'per-channel' }, t)).model;
    expect((out.weightSpecs.find((s) => s.name === KERNELS[3])!.quantization as { axis: number }).axis).toBe(1);
    expect(maxDiff(await predictGraph(out, 'runtime'), before)).toBeLessThan(0.02);
  });
});

describe('prune on a graph model', () => {
  it('magnitude: every kernel the ops read at its sparsity; biases untouched; loads in stock TF.js', async () => {
    const { model, stats } = await run(prune, { sparsity: 0.5 }, graph);
    const layers = stats.layers as LayerSparsity[];
    expect(layers.map((l) => l.layer)).toEqual(KERNELS);
    for (const l of layers) expect(l.sparsity).toBeCloseTo(0.5, 1);
    const before = valuesOf(graph);
    const after = valuesOf(model);
    expect(Array.from(after.get(`${P}/pw/BiasAdd/ReadVariableOp`)!)).toEqual(
      Array.from(before.get(`${P}/pw/BiasAdd/ReadVariableOp`)!),
    );
    const out = await predictGraph(model);
    expect(maxDiff(out, original)).toBeGreaterThan(0);
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('global: one pool over the kernels', async () => {
    const { stats } = await run(prune, { sparsity: 0.6, scope: 'global' }, graph);
    expect((stats.overall as { sparsity: number }).sparsity).toBeCloseTo(0.6, 2);
    const layers = stats.layers as LayerSparsity[];
    expect(new Set(layers.map((l) => l.sparsity.toFixed(2))).size).toBeGreaterThan(1);
  });

  it('N:M along each kernel input channels (the last axis of a transposed MatMul operand); the conv whose 3 inputs M does not divide is skipped by name', async () => {
    for (const transposeB of [false, true]) {
      const g = converterGraph({ transposeB });
      const { model, stats } = await run(prune, { pattern: '2:4' }, g, [{ layers: [NODES.conv], set: 'skip' }]);
      expect(stats.skippedLayers).toEqual([NODES.conv]);
      // The depthwise kernel has no input-channel reduction: left out of N:M.
      expect(stats.skipped).toEqual([`${P}/dw/depthwise_weights`]);
      const v = valuesOf(model);
      const dense = v.get(KERNELS[3]!) as Float32Array;
      // Each group of 4 consecutive inputs of one output keeps 2.
      const at = (i: number, o: number) => (transposeB ? dense[o * 16 + i]! : dense[i * 10 + o]!);
      for (let o = 0; o < 10; o++)
        for (let g0 = 0; g0 < 16; g0 += 4) {
          const zeros = [0, 1, 2, 3].filter((j) => at(g0 + j, o) === 0).length;
          expect(zeros).toBe(2);
        }
      expect((await predictGraph(model)).every(Number.isFinite)).toBe(true);
    }
  });

  it('with a schedule: refused at planning and in apply, naming the recipe place', async () => {
    const raw = { sparsity: 0.5, schedule: { steps: 10 } };
    const place = { path: ['passes', 2, 'prune'] as DataPath, at: (o?: string) => `r.yaml:9:${o ?? 'entry'}` };
    expect(() => prune.resolveOptions(raw, place, { modelAt: 'r.yaml:3:9', kind: 'graph' })).toThrow(
      /prune with a `schedule` at r\.yaml:9:schedule .*graph model \(set at r\.yaml:3:9\) cannot be trained.*Prune it in one shot/,
    );
    const options = prune.resolveOptions(raw, place);
    await expect(prune.apply(graph, options, { ...base, place })).rejects.toThrow(/at r\.yaml:9:schedule/);
  });
});

describe('cluster, encode and shard on a graph model', () => {
  it('cluster shares each kernel the ops read; encode then codes them; the result loads (mcbuild/runtime) and stays close', async () => {
    const { model, stats } = await run(cluster, { bits: 4 }, graph);
    expect(stats.kernelsClustered).toBe(4);
    const v = valuesOf(model);
    for (const k of KERNELS) expect(new Set(v.get(k)).size).toBeLessThanOrEqual(16);
    const clustered = await predictGraph(model);
    expect(maxDiff(clustered, original)).toBeGreaterThan(0);
    expect(maxDiff(clustered, original)).toBeLessThan(0.1);
    const encoded = await run(encode, {}, model, [{ layers: [NODES.dense], set: 'skip' }]);
    expect(encoded.stats.weightsEncoded).toBeGreaterThan(0);
    expect(encoded.stats.skippedLayers).toEqual([NODES.dense]);
    expect(Array.from(await predictGraph(encoded.model, 'runtime'))).toEqual(Array.from(clustered));
  });

  it('shard cuts the weights into files of the size asked; stock TF.js loads them', async () => {
    const { model } = await run(shard, { shardBytes: '1kB' }, graph);
    expect(modelToFiles(model).size).toBeGreaterThan(2);
    expect(Array.from(await predictGraph(model))).toEqual(Array.from(original));
  });
});
