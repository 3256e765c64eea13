/**
 * prune-channels on graph models: channels whose filters and biases are zero are removed exactly (stock
 * tf.loadGraphModel predicts the same), a FusedBatchNorm's constants follow its conv, residual AddV2 groups of
 * the converter-true MobileNetV2 graph are pruned with one selection, and convs whose channels reach a ConcatV2
 * or Reshape are skipped with the reason.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import {
  decodeWeights,
  keepStoredForms,
  modelToFiles,
  readModelDir,
  type GraphNode,
  type StoredModel,
} from '../../../src/model/index.js';
import type { PrunedGroup, PrunedLayer } from '../../../src/passes/prune-channels/index.js';
import { pruneModelChannels } from '../../../src/passes/prune-channels/prune.js';
import { resolvePruneChannelsOptions } from '../../../src/passes/prune-channels/options.js';
import { batchnormGraph, mobilenetV2Graph } from '../../fixtures/models/index.js';
import { converterQuantized } from '../../quantized-source.js';
import { converterGraph, memoryFetch, NODES, P, predictGraph } from './converter-graph.js';
import { tinyGraph } from './tiny-graph.js';

const place = { path: ['passes', 0, 'prune-channels'], at: (o?: string) => `r.yaml:7:${o ?? 'entry'}` };
const options = (raw: Record<string, unknown>) => resolvePruneChannelsOptions(raw, place);
const nodes = (m: StoredModel) => (m.json.modelTopology as { node: GraphNode[] }).node;
const spec = (m: StoredModel, name: string) => m.weightSpecs.find((s) => s.name === name)!;

beforeAll(async () => {
  await loadEngine('wasm');
});

/** Zeroes output channels `cs` of the weights (kernels along their last axis, vectors by index). */
function zero(model: StoredModel, weight: string, cs: readonly number[]): void {
  const w = decodeWeights(model, { share: true }).find((x) => x.spec.name === weight)!;
  const n = w.spec.shape.at(-1)!;
  const v = w.values as Float32Array;
  for (let i = 0; i < v.length; i++) if (cs.includes(i % n)) v[i] = 0;
}

describe('prune-channels on a graph model', () => {
  it('removes channels whose filters and biases are zero: the graph predicts exactly as before', async () => {
    const model = converterGraph();
    // conv1 → depthwise: channels 1, 4, 6 are zero all the way (filter, bias, depthwise bias), so relu6 gives 0.
    for (const w of [`${P}/conv1/Conv2D_weights`, `${P}/conv1/Conv2D_bn_offset`, `${P}/dw/depthwise_bn_offset`])
      zero(model, w, [1, 4, 6]);
    // pw (16) → BiasAdd → Relu → Mean → dense: six channels are zero, so the dense reads zeros from them.
    for (const w of [`${P}/pw/Conv2D/ReadVariableOp`, `${P}/pw/BiasAdd/ReadVariableOp`])
      zero(model, w, [0, 3, 7, 10, 12, 15]);
    const before = await predictGraph(model);
    const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.375 }), place);
    expect(
      (stats.layers as PrunedLayer[]).map((l) => [l.layer, l.className, l.channelsBefore, l.channelsAfter]),
    ).toEqual([
      [NODES.conv, 'Conv2D', 8, 5],
      [NODES.pointwise, 'Conv2D', 16, 10],
    ]);
    expect(stats.skipped).toEqual([
      {
        layers: [NODES.dense],
        reason: `it is read by ${P}/probs/Softmax (Softmax), which prune-channels cannot follow`,
      },
    ]);
    expect(spec(out, `${P}/conv1/Conv2D_weights`).shape).toEqual([3, 3, 3, 5]);
    expect(spec(out, `${P}/dw/depthwise_weights`).shape).toEqual([3, 3, 5, 1]);
    expect(spec(out, `${P}/dw/depthwise_bn_offset`).shape).toEqual([5]);
    expect(spec(out, `${P}/pw/Conv2D/ReadVariableOp`).shape).toEqual([1, 1, 5, 10]);
    expect(spec(out, `${P}/logits/MatMul/ReadVariableOp`).shape).toEqual([10, 10]);
    expect(stats.paramsAfter).toBe(
      (stats.paramsBefore as number) - (27 * 3 + 3) - (9 * 3 + 3) - (8 * 16 - 5 * 10 + 6) - 6 * 10,
    );
    // The Const nodes say the new shapes (the manifest and the topology agree).
    const pw = nodes(out).find((n) => n.name === `${P}/pw/Conv2D/ReadVariableOp`)!;
    expect(JSON.stringify(pw.attr?.value)).toContain('{"size":"5"},{"size":"10"}');
    const after = await predictGraph(out);
    expect(after.length).toBe(before.length);
    after.forEach((v, i) => expect(Math.abs(v - before[i]!)).toBeLessThan(1e-5));
  });

  it('a uint8-stored source: sliced tensors keep the converter’s uint8 form and values, the output is smaller', async () => {
    const source = converterQuantized(converterGraph());
    const { model: pruned } = pruneModelChannels(source, options({ sparsity: 0.5 }), place);
    const { model: out, changes } = keepStoredForms(source, pruned);
    expect(changes.tensors).toBeGreaterThan(0);
    for (const s of out.weightSpecs)
      if (s.dtype === 'float32') expect([s.name, s.quantization?.dtype]).toEqual([s.name, 'uint8']);
    expect(out.weightData.byteLength).toBeLessThan(source.weightData.byteLength);
    // The kept elements are the source's, as stored: each decodes to one of the source's values.
    const name = `${P}/dw/depthwise_bn_offset`;
    const kept = decodeWeights(out).find((w) => w.spec.name === name)!.values;
    const all = [...decodeWeights(source).find((w) => w.spec.name === name)!.values];
    for (const v of kept) expect(all).toContain(v);
    expect((await predictGraph(out)).every(Number.isFinite)).toBe(true);
  });

  it('a transposed dense kernel loses rows on its last axis; l2 and roundTo as for layers models', async () => {
    const model = converterGraph({ transposeB: true });
    const { model: out, stats } = pruneModelChannels(
      model,
      options({ sparsity: 0.5, criterion: 'l2', roundTo: 4 }),
      place,
    );
    expect((stats.layers as PrunedLayer[]).map((l) => l.channelsAfter)).toEqual([4, 8]);
    expect(spec(out, `${P}/logits/MatMul/ReadVariableOp`).shape).toEqual([10, 8]);
    const y = await predictGraph(out);
    expect(y.length).toBe(60);
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it('a FusedBatchNormV3 after a Conv2D is sliced with it; bn-gamma ranks by its scale', async () => {
    const model = converterGraph({ batchNorm: true, pointwiseBias: false });
    const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.25, criterion: 'bn-gamma' }), place);
    // conv1 has no batch norm after it: bn-gamma cannot rank it.
    expect(stats.skipped).toEqual(
      expect.arrayContaining([
        { layers: [NODES.conv], reason: expect.stringMatching(/bn-gamma needs a FusedBatchNorm right after/) },
      ]),
    );
    for (const w of [
      'ReadVariableOp',
      'ReadVariableOp_1',
      'FusedBatchNormV3/ReadVariableOp',
      'FusedBatchNormV3/ReadVariableOp_1',
    ])
      expect(spec(out, `${P}/pw_bn/${w}`).shape).toEqual([12]);
    // The 4 smallest |gamma| went.
    const gamma = decodeWeights(model).find((w) => w.spec.name === `${P}/pw_bn/ReadVariableOp`)!.values;
    const kept = decodeWeights(out).find((w) => w.spec.name === `${P}/pw_bn/ReadVariableOp`)!.values;
    const sorted = [...gamma].map(Math.abs).sort((a, b) => b - a);
    expect([...kept].map(Math.abs).sort((a, b) => b - a)).toEqual(sorted.slice(0, 12));
    expect((await predictGraph(out)).every(Number.isFinite)).toBe(true);
  });

  it('the batchnorm-graph fixture: its Conv2D → FusedBatchNormV3 → AddV2 group is pruned as one', async () => {
    const f = await batchnormGraph();
    const model = (await readModelDir(f.modelJson)).model;
    const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.25 }), place);
    const groups = stats.groups as PrunedGroup[];
    const add = groups.find((g) => g.layers.some((l) => l.includes('pw1/Conv2D')))!;
    expect(add.layers).toHaveLength(2);
    expect(add.channelsAfter).toBe(Math.round(add.channelsBefore * 0.75));
    const bnScale = out.weightSpecs.find((s) => s.name.includes('pw1_bn') && s.name.endsWith('scale'));
    if (bnScale) expect(bnScale.shape).toEqual([add.channelsAfter]);
    const bn = nodes(out).find((n) => n.op === 'FusedBatchNormV3')!;
    for (const input of bn.input!.slice(1)) expect(spec(out, input).shape).toEqual([add.channelsAfter]);
    const g = await tf.loadGraphModel('http://h/m/model.json', { fetchFunc: memoryFetch(modelToFiles(out)) });
    const y = g.predict(tf.zeros([1, 112, 112, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 128]);
    tf.dispose(y);
    g.dispose();
  });

  it('convs whose channels reach a ConcatV2 or a Reshape are skipped with the node and op', () => {
    for (const op of ['ConcatV2', 'Reshape'] as const) {
      const model = tinyGraph(op);
      const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.5 }), place);
      expect(out).toBe(model);
      expect(stats.layersPruned).toBe(0);
      // [b, 4, 4, 4] → [b, 64] puts each pixel's channels side by side: not followed (./prune-channels-flatten.test.ts).
      const why =
        op === 'ConcatV2'
          ? 'prune-channels cannot follow'
          : 'may move its channels: axes 1, 2 of its input are not known to be size 1 (only [batch, 1, …, 1, channels] is followed)';
      expect(stats.skipped).toEqual([{ layers: ['conv/Relu'], reason: `it is read by join (${op}), which ${why}` }]);
      expect(() => pruneModelChannels(model, options({ sparsity: 0.5, layers: ['conv/Relu'] }), place)).toThrow(
        /names node conv\/Relu \(_FusedConv2D\), whose channels prune-channels cannot remove: it is read by join/,
      );
    }
  });
});

describe('prune-channels on the MobileNetV2 graph (224×224)', () => {
  it('prunes every AddV2 group with one selection; fewer parameters; stock TF.js runs it', async () => {
    const f = await mobilenetV2Graph();
    const model = (await readModelDir(f.modelJson)).model;
    const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.25 }), place);
    const layers = stats.layers as PrunedLayer[];
    const groups = stats.groups as PrunedGroup[];
    // 35 convs: only the classifier (a _FusedMatMul reaching the output) keeps its channels.
    expect(layers).toHaveLength(35);
    expect(stats.skipped).toEqual([
      { layers: [expect.stringMatching(/predictions\/BiasAdd$/)], reason: expect.stringMatching(/Softmax/) },
    ]);
    // The residual stages: 24, 32, 64, 96, 160 channels, 2 + 3 + 4 + 3 + 3 projections.
    expect(groups.map((g) => [g.layers.length, g.channelsBefore, g.channelsAfter])).toEqual([
      [2, 24, 18],
      [3, 32, 24],
      [4, 64, 48],
      [3, 96, 72],
      [3, 160, 120],
    ]);
    for (const g of groups) expect(g.merges.length).toBe(g.layers.length - 1);
    // The shapes Grappler recorded on each fused op follow: its input's width is its filter's input channels.
    for (const n of nodes(out).filter((x) => x.op.startsWith('Fused') || x.op === '_FusedConv2D')) {
      const recorded = (n.attr!._input_shapes as { list: { shape: { dim: { size: string }[] }[] } }).list.shape;
      const filter = spec(out, n.input![1]!).shape;
      expect(recorded[1]!.dim.map((d) => Number(d.size))).toEqual(filter);
      const width = Number(recorded[0]!.dim.at(-1)!.size);
      if (width > 0) expect(width).toBe(filter[2]);
    }
    const ratio = (stats.paramsAfter as number) / (stats.paramsBefore as number);
    // Both sides of most kernels lose a quarter: about 0.75² of the parameters stay.
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(0.7);
    const g = await tf.loadGraphModel('http://h/m/model.json', { fetchFunc: memoryFetch(modelToFiles(out)) });
    const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 3);
    const y = g.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 1000]);
    expect((await y.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    g.dispose();
  }, 120_000);
});
