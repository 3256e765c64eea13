/**
 * prune-channels through the Squeeze and Reshape nodes a classifier head puts between a spatial Mean (or a pool to
 * 1×1) and its MatMul (src/passes/prune-channels/graph-flatten.ts): each converter pattern is pruned, removing
 * zero channels is exact in stock tf.loadGraphModel, the Reshape's shape constant and a dimless Squeeze follow the
 * new width, and a Squeeze or Reshape that may move channels still blocks its root with the reason.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import { decodeWeights, modelToFiles, type GraphNode, type StoredModel } from '../../../src/model/index.js';
import {
  recordedUnitAxes,
  reshapeLayout,
  squeezeLayout,
  withUnit,
} from '../../../src/passes/prune-channels/graph-flatten.js';
import type { PrunedLayer } from '../../../src/passes/prune-channels/index.js';
import { pruneModelChannels } from '../../../src/passes/prune-channels/prune.js';
import { resolvePruneChannelsOptions } from '../../../src/passes/prune-channels/options.js';
import { memoryFetch } from './converter-graph.js';
import { tinyHeadGraph, type Head } from './tiny-graph.js';

const place = { path: ['passes', 0, 'prune-channels'], at: (o?: string) => `r.yaml:7:${o ?? 'entry'}` };
const options = (raw: Record<string, unknown>) => resolvePruneChannelsOptions(raw, place);
const node = (m: StoredModel, name: string) =>
  (m.json.modelTopology as { node: GraphNode[] }).node.find((n) => n.name === name)!;
const values = (m: StoredModel, name: string) => decodeWeights(m).find((w) => w.spec.name === name)?.values;

beforeAll(async () => {
  await loadEngine('wasm');
});

async function predict(model: StoredModel): Promise<Float32Array> {
  const g = await tf.loadGraphModel('http://h/m/model.json', { fetchFunc: memoryFetch(modelToFiles(model)) });
  const x = tf.tensor4d(
    Float32Array.from({ length: 3 * 4 * 4 * 3 }, (_, i) => Math.cos(i * 0.7)),
    [3, 4, 4, 3],
  );
  const y = g.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  g.dispose();
  return out;
}

/** The head graph with the conv's channels 1 and 3 zero (filter and bias: Relu gives 0 there). */
function zeroed(head: Head): StoredModel {
  const model = tinyHeadGraph(head);
  for (const w of decodeWeights(model, { share: true })) {
    if (!w.spec.name.startsWith('conv/')) continue;
    const v = w.values as Float32Array;
    for (let i = 0; i < v.length; i++) if (i % 4 === 1 || i % 4 === 3) v[i] = 0;
  }
  return model;
}

describe('Squeeze and Reshape layouts', () => {
  const t = { space: 0, factor: 1, rank: 4 };
  it('a Squeeze of size-1 axes keeps the channels last; of the channel axis, or all of unknown size, it blocks', () => {
    const squeeze = (attr: Record<string, unknown>) => ({ name: 's', op: 'Squeeze', attr });
    const dims = (...i: number[]) => ({ squeeze_dims: { list: { i: i.map(String) } } });
    expect(squeezeLayout(squeeze(dims(1, 2)), t, 8)).toEqual({ layout: { space: 0, factor: 1, rank: 2 } });
    expect(squeezeLayout(squeeze(dims(-3)), withUnit(t, [1, 2]), 8)).toEqual({
      layout: { space: 0, factor: 1, rank: 3, unit: [1] },
    });
    expect(squeezeLayout(squeeze(dims(3)), t, 8)).toBe('it squeezes the channel axis');
    expect(squeezeLayout(squeeze({}), withUnit(t, [1, 2]), 8)).toEqual({
      layout: { space: 0, factor: 1, rank: 2 },
      dims: [1, 2],
    });
    expect(squeezeLayout(squeeze({}), withUnit(t, [1]), 8)).toBe(
      'it squeezes every size-1 axis, and axes 2 of its input are not known to be size 1',
    );
    expect(squeezeLayout(squeeze({}), withUnit(t, [1, 2]), 1)).toBe(
      'it squeezes every size-1 axis, its single channel too',
    );
  });

  it('a Reshape is followed only from [b, 1, …, 1, C] to [b, 1, …, 1, C]', () => {
    const unit = withUnit(t, [1, 2]);
    expect(reshapeLayout(unit, 8, [-1, 8])).toEqual({ layout: { space: 0, factor: 1, rank: 2 } });
    expect(reshapeLayout(unit, 8, [5, 1, 8])).toEqual({ layout: { space: 0, factor: 1, rank: 3, unit: [1] } });
    expect(reshapeLayout(t, 8, [-1, 8])).toBe(
      'axes 1, 2 of its input are not known to be size 1 (only [batch, 1, …, 1, channels] is followed)',
    );
    expect(reshapeLayout(unit, 8, [-1, 2, 4])).toBe(
      'its shape [-1, 2, 4] does not keep the 8 channels last ([batch, 1, …, 1, 8])',
    );
    expect(reshapeLayout(unit, 8, [8, -1])).toMatch(/does not keep the 8 channels last/);
    expect(reshapeLayout(unit, 8, undefined)).toBe('its shape is not a constant int32 tensor');
  });

  it('the converter’s _output_shapes say which axes are size 1', () => {
    const n = (shape: number[]) => ({
      name: 'p',
      op: 'AvgPool',
      attr: { _output_shapes: { list: { shape: [{ dim: shape.map((size) => ({ size: String(size) })) }] } } },
    });
    expect(recordedUnitAxes(n([-1, 1, 1, 4]), 0, 4)).toEqual([1, 2]);
    expect(recordedUnitAxes(n([-1, 2, 1, 4]), 0, 4)).toEqual([2]);
    expect(recordedUnitAxes(n([-1, 1, 1, 4]), 0, 3)).toEqual([]);
    expect(recordedUnitAxes(n([-1, 1, 1, 4]), 1, 4)).toEqual([]);
  });
});

describe('prune-channels through a classifier head', () => {
  for (const head of ['mean-squeeze', 'mean-squeeze-all', 'mean-reshape', 'pool-reshape'] as const) {
    it(`${head}: the conv is pruned into the MatMul's rows and predicts exactly as before`, async () => {
      const model = zeroed(head);
      const before = await predict(model);
      const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.5 }), place);
      expect((stats.layers as PrunedLayer[]).map((l) => [l.layer, l.channelsBefore, l.channelsAfter])).toEqual([
        ['conv/Relu', 4, 2],
      ]);
      expect(stats.skipped).toEqual([{ layers: ['dense/BiasAdd'], reason: "it reaches the model's output Identity" }]);
      expect(out.weightSpecs.find((s) => s.name === 'dense/MatMul/ReadVariableOp')!.shape).toEqual([2, 2]);
      const recorded = node(out, 'dense/BiasAdd').attr!._input_shapes as { list: { shape: { dim: unknown[] }[] } };
      expect(recorded.list.shape[0]!.dim.at(-1)).toEqual({ size: '2' });
      if (head.endsWith('reshape')) expect([...values(out, 'head/shape')!]).toEqual([-1, 2]);
      if (head === 'mean-squeeze-all')
        // One kept channel must not be squeezed with the spatial axes: the dims are written out.
        expect(node(out, 'head').attr!.squeeze_dims).toEqual({ list: { i: ['1', '2'] } });
      else expect(node(out, 'head').attr!.squeeze_dims).toEqual(node(model, 'head').attr!.squeeze_dims);
      if (head === 'pool-reshape')
        expect(node(out, 'pool').attr!._output_shapes).toEqual({
          list: { shape: [{ dim: ['-1', '1', '1', '2'].map((size) => ({ size })) }] },
        });
      const after = await predict(out);
      expect(after.length).toBe(before.length);
      after.forEach((v, i) => expect(Math.abs(v - before[i]!)).toBeLessThan(1e-5));
    });
  }

  it('a Reshape whose shape constant is written in its Const node (intVal or tensorContent) gets the new width', () => {
    for (const form of ['intVal', 'tensorContent'] as const) {
      const model = tinyHeadGraph('mean-reshape-inline');
      const tensor = (node(model, 'head/shape').attr!.value as { tensor: Record<string, unknown> }).tensor;
      if (form === 'tensorContent') {
        delete tensor.intVal;
        tensor.tensorContent = Buffer.from(Int32Array.from([-1, 4]).buffer).toString('base64');
      }
      const { model: out, stats } = pruneModelChannels(model, options({ sparsity: 0.75 }), place);
      expect(stats.layersPruned).toBe(1);
      const written = (node(out, 'head/shape').attr!.value as { tensor: Record<string, unknown> }).tensor;
      const ints =
        form === 'intVal'
          ? written.intVal
          : [...new Int32Array(Uint8Array.from(Buffer.from(written.tensorContent as string, 'base64')).buffer)];
      expect([written.dtype, ints]).toEqual(['DT_INT32', [-1, 1]]);
      expect(out.weightSpecs.find((s) => s.name === 'head/shape')).toBeUndefined();
    }
  });

  it('one kept channel through a dimless Squeeze still reaches the MatMul as [batch, 1]', async () => {
    const { model: out } = pruneModelChannels(tinyHeadGraph('mean-squeeze-all'), options({ sparsity: 0.75 }), place);
    expect(out.weightSpecs.find((s) => s.name === 'dense/MatMul/ReadVariableOp')!.shape).toEqual([1, 2]);
    const y = await predict(out);
    expect(y.length).toBe(6);
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it('a shape constant other Reshape nodes read too blocks the root', () => {
    const model = tinyHeadGraph('mean-reshape');
    const nodes = (model.json.modelTopology as { node: GraphNode[] }).node;
    nodes.push({ name: 'other', op: 'Reshape', input: ['input', 'head/shape'] });
    const { stats } = pruneModelChannels(model, options({ sparsity: 0.5 }), place);
    expect(stats.skipped).toContainEqual({
      layers: ['conv/Relu'],
      reason: 'its shape constant head/shape is also read by other nodes',
    });
  });
});
