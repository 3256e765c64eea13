/**
 * A graph model read as layers (src/model/graph-layers.ts): each weight found by the op that reads it, through
 * Identity nodes, with the role and axes of the Keras weight it corresponds to; layers named by the nodes.
 */
import { describe, expect, it } from 'vitest';
import { modelLayers, opMatches, packedChannelAxis, readGraph } from '../../src/model/index.js';
import { converterGraph, NODES, P } from '../passes/graph/converter-graph.js';

describe('graph layers', () => {
  it('finds each kernel by its consuming op, biases by BiasAdd and fused args, through an Identity', () => {
    const g = readGraph(converterGraph({ batchNorm: true }).json)!;
    const summary = g.layers.map((l) => ({
      name: l.name,
      op: l.op,
      className: l.className,
      weights: l.weights.map((w) => [w.weight.slice(P.length + 1), w.role.key, w.role.outputAxis, w.role.inputAxis]),
    }));
    expect(summary).toEqual([
      {
        name: NODES.conv,
        op: '_FusedConv2D',
        className: 'Conv2D',
        weights: [
          ['conv1/Conv2D_weights', 'kernel', -1, -2],
          ['conv1/Conv2D_bn_offset', 'bias', -1, undefined],
        ],
      },
      {
        name: NODES.depthwise,
        op: 'FusedDepthwiseConv2dNative',
        className: 'DepthwiseConv2D',
        weights: [
          ['dw/depthwise_weights', 'depthwise_kernel', -2, -2],
          ['dw/depthwise_bn_offset', 'bias', -1, undefined],
        ],
      },
      {
        name: NODES.pointwise,
        op: 'Conv2D',
        className: 'Conv2D',
        weights: [
          ['pw/Conv2D/ReadVariableOp', 'kernel', -1, -2],
          ['pw/BiasAdd/ReadVariableOp', 'bias', -1, undefined],
        ],
      },
      {
        name: NODES.batchNorm,
        op: 'FusedBatchNormV3',
        className: 'BatchNormalization',
        weights: [
          ['pw_bn/ReadVariableOp', 'gamma', -1, undefined],
          ['pw_bn/ReadVariableOp_1', 'beta', -1, undefined],
          ['pw_bn/FusedBatchNormV3/ReadVariableOp', 'moving_mean', -1, undefined],
          ['pw_bn/FusedBatchNormV3/ReadVariableOp_1', 'moving_variance', -1, undefined],
        ],
      },
      {
        name: NODES.dense,
        op: '_FusedMatMul',
        className: 'Dense',
        weights: [
          ['logits/MatMul/ReadVariableOp', 'kernel', -1, -2],
          ['logits/BiasAdd/ReadVariableOp', 'bias', -1, undefined],
        ],
      },
    ]);
    expect(g.compressed(`${P}/dw/depthwise_weights`, 'quantize')?.layer).toBe(NODES.depthwise);
    expect(g.compressed(`${P}/dw/depthwise_bn_offset`, 'quantize')).toBeUndefined();
    expect(g.layerOf(`${P}/pool/Mean/reduction_indices`)).toBe(`${P}/pool/Mean`);
  });

  it('a transposed MatMul operand has its output channels first; packed scales then run per input column', () => {
    const g = readGraph(converterGraph({ transposeB: true }).json)!;
    const w = g.compressed(`${P}/logits/MatMul/ReadVariableOp`, 'prune')!;
    expect(w.role).toMatchObject({ outputAxis: -2, inputAxis: -1 });
    expect(packedChannelAxis(w.role, 2)).toBe(1);
    expect(packedChannelAxis(g.compressed(`${P}/dw/depthwise_weights`, 'prune')!.role, 4)).toBe(2);
  });

  it('modelLayers: the nodes holding weights (name, op, class), then the other weights by name', () => {
    const m = converterGraph();
    const layers = modelLayers(m.json, m.weightSpecs);
    expect(layers.map((l) => [l.name, l.op, l.className])).toEqual([
      [NODES.conv, '_FusedConv2D', 'Conv2D'],
      [NODES.depthwise, 'FusedDepthwiseConv2dNative', 'DepthwiseConv2D'],
      [NODES.pointwise, 'Conv2D', 'Conv2D'],
      [NODES.dense, '_FusedMatMul', 'Dense'],
      [`${P}/pool/Mean`, undefined, undefined],
    ]);
    expect(readGraph({ format: 'layers-model', modelTopology: { model_config: {} } })).toBeUndefined();
  });

  it('reads a constant left operand of MatMul, fused PReLU slopes, old byte-list strings and ":0" inputs', () => {
    const c = (name: string) => ({ name, op: 'Const', attr: {} });
    const g = readGraph({
      format: 'graph-model',
      modelTopology: {
        node: [
          { name: 'x', op: 'Placeholder' },
          c('w'),
          c('wt'),
          c('b'),
          c('alpha'),
          { name: 'left', op: 'MatMul', input: ['w', 'x:0'], attr: { transpose_a: { b: false } } },
          { name: 'leftT', op: 'MatMul', input: ['wt', 'x'], attr: { transpose_a: { b: true } } },
          {
            name: 'conv',
            op: '_FusedConv2D',
            input: ['x', 'w:0', 'b', 'alpha', '^x'],
            // As old converters wrote strings: the bytes as numbers.
            attr: {
              fused_ops: {
                list: {
                  s: [
                    [66, 105, 97, 115, 65, 100, 100],
                    [80, 114, 101, 108, 117],
                  ],
                },
              },
            },
          },
        ],
      },
    })!;
    const role = (layer: string, key: string) =>
      g.layers.find((l) => l.name === layer)!.weights.find((w) => w.role.key === key);
    // y = W·x: W [out, in]; with transpose_a W is [in, out].
    expect(role('left', 'kernel')).toMatchObject({ input: 0, role: { outputAxis: -2, inputAxis: -1 } });
    expect(role('leftT', 'kernel')?.role).toMatchObject({ outputAxis: -1, inputAxis: -2 });
    // `w` belongs to its first reader; the fused conv's args are bias then PReLU slopes.
    expect(role('conv', 'kernel')).toBeUndefined();
    expect(role('conv', 'bias')?.weight).toBe('b');
    expect(role('conv', 'alpha')?.weight).toBe('alpha');
  });

  it('a fused op counts as its base op, not the other way round', () => {
    expect(opMatches('_FusedConv2D', 'Conv2D')).toBe(true);
    expect(opMatches('_FusedConv2D', '_FusedConv2D')).toBe(true);
    expect(opMatches('FusedDepthwiseConv2dNative', 'DepthwiseConv2dNative')).toBe(true);
    expect(opMatches('_FusedMatMul', 'MatMul')).toBe(true);
    expect(opMatches('Conv2D', '_FusedConv2D')).toBe(false);
    expect(opMatches('FusedBatchNormV3', 'FusedBatchNorm')).toBe(false);
  });
});
