/**
 * fold-batchnorm on a graph model: a FusedBatchNormV3 that survived freezing after a Conv2D (with its BiasAdd, or
 * without a bias) is folded into the filter and bias; the node keeps its name; stock tf.loadGraphModel loads the
 * result and it predicts as the original did.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import { readGraph, type GraphNode } from '../../../src/model/index.js';
import { foldBatchnorm } from '../../../src/passes/fold-batchnorm/index.js';
import { converterGraph, NODES, P, predictGraph } from './converter-graph.js';

const nodes = (json: Record<string, unknown>) => (json.modelTopology as { node: GraphNode[] }).node;
const place = { path: ['passes', 0, 'fold-batchnorm'], at: () => 'r.yaml:7:5' };
const ctx = {
  engine: () => loadEngine('wasm'),
  data: () => Promise.reject(new Error('reads no data')),
  signal: new AbortController().signal,
  progress: () => {},
  place,
};

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('fold-batchnorm on a graph model', () => {
  for (const pointwiseBias of [true, false]) {
    it(`folds a FusedBatchNormV3 after a Conv2D ${pointwiseBias ? 'and its BiasAdd' : 'without a bias'}; stock TF.js predicts the same`, async () => {
      const model = converterGraph({ batchNorm: true, pointwiseBias });
      const before = await predictGraph(model);
      const { model: out, stats } = await foldBatchnorm.apply(model, {}, ctx);
      expect(stats).toMatchObject({
        batchNormsFolded: 1,
        batchNormsSkipped: 0,
        folded: [{ batchNorm: NODES.batchNorm, into: NODES.pointwise, className: 'Conv2D', addedBias: !pointwiseBias }],
        paramsBefore: model.weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0),
      });
      expect(stats.paramsAfter).toBe((stats.paramsBefore as number) - (pointwiseBias ? 64 : 48));
      const bn = nodes(out.json).find((n) => n.name === NODES.batchNorm)!;
      expect(bn.op).toBe(pointwiseBias ? 'Identity' : 'BiasAdd');
      expect(out.weightSpecs.some((s) => s.name.startsWith(`${P}/pw_bn/ReadVariableOp_1`))).toBe(!pointwiseBias);
      expect(out.weightSpecs.some((s) => s.name === `${P}/pw_bn/ReadVariableOp`)).toBe(false);
      // Every weight the topology lists is in the manifest and the other way round.
      const consts = nodes(out.json)
        .filter((n) => n.op === 'Const')
        .map((n) => n.name);
      expect(consts.sort()).toEqual(out.weightSpecs.map((s) => s.name).sort());
      expect(readGraph(out.json)!.layers.some((l) => l.op === 'FusedBatchNormV3')).toBe(false);
      const after = await predictGraph(out);
      after.forEach((v, i) => expect(v).toBeCloseTo(before[i]!, 5));
    });
  }

  it('a graph without batch norms comes out as it went in, with a note', async () => {
    const model = converterGraph();
    const { model: out, stats } = await foldBatchnorm.apply(model, {}, ctx);
    expect(out).toBe(model);
    expect(stats).toMatchObject({ batchNormsFolded: 0, note: expect.stringMatching(/no FusedBatchNorm/) });
  });

  it('a batch norm after an activation stays, with the reason', async () => {
    const model = converterGraph({ batchNorm: true });
    const list = nodes(model.json);
    // Read the depthwise conv's output (BiasAdd + Relu6 fused) instead: folding would move the scale past Relu6.
    const bn = list.find((n) => n.name === NODES.batchNorm)!;
    const relu = list.find((n) => n.name === `${P}/pw_relu/Relu`)!;
    bn.input = [NODES.depthwise, ...bn.input!.slice(1)];
    relu.input = [`${P}/pw/BiasAdd`];
    const { stats } = await foldBatchnorm.apply(model, {}, ctx);
    expect(stats).toMatchObject({ batchNormsFolded: 0, skipped: [{ layer: NODES.batchNorm }] });
    expect((stats.skipped as { reason: string }[])[0]!.reason).toMatch(/applies Relu6 before it|also read by/);
  });
});
