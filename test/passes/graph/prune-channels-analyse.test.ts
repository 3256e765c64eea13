/**
 * The graph channel analysis of prune-channels on small hand-written graphs: which constants a space slices
 * (and along which axis, with a depthwise multiplier), how AddV2 ties spaces into a group, and the named reason
 * each op, constant or output that cannot be followed gives. Also the node helpers: fused args, outputs, order.
 */
import { describe, expect, it } from 'vitest';
import type { GraphNode } from '../../../src/model/index.js';
import { analyseGraph, type GraphConst } from '../../../src/passes/prune-channels/graph-analyse.js';
import {
  dataInputs,
  fusedArgs,
  outputNodes,
  topologicalOrder,
} from '../../../src/passes/prune-channels/graph-nodes.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const fused = (...ops: string[]) => ({ fused_ops: { list: { s: ops.map(b64) } } });

/** A graph from (name, op, inputs, attr) rows; constants from [name, shape, values?]. */
function graph(rows: [string, string, string[], Record<string, unknown>?][], consts: [string, number[], number[]?][]) {
  const map = new Map<string, GraphConst>();
  const nodes: GraphNode[] = consts.map(([name, shape, values]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    map.set(name, {
      shape,
      dtype: values ? 'int32' : 'float32',
      values: values ? Int32Array.from(values) : Float32Array.from({ length: n }, (_, i) => i + 1),
    });
    return { name, op: 'Const' };
  });
  nodes.push({ name: 'x', op: 'Placeholder' });
  for (const [name, op, input, attr] of rows) nodes.push({ name, op, input, ...(attr ? { attr } : {}) });
  return { nodes, consts: map, json: {} };
}

const analyse = (g: ReturnType<typeof graph>) => analyseGraph(g.json, g.nodes, g.consts);

describe('graph channel analysis', () => {
  it('conv → BiasAdd → FusedBatchNormV3 → Relu6 → depthwise (multiplier 2) → conv: every constant on its axis', () => {
    const g = graph(
      [
        ['c1', 'Conv2D', ['x', 'k1']],
        ['b1', 'BiasAdd', ['c1', 'bias1']],
        ['bn', 'FusedBatchNormV3', ['b1', 'g', 'beta', 'm', 'v'], { is_training: { b: false } }],
        ['r', 'Relu6', ['bn']],
        ['dw', 'FusedDepthwiseConv2dNative', ['r', 'kd', 'bd'], fused('BiasAdd', 'Relu')],
        ['c2', '_FusedConv2D', ['dw', 'k2', 'b2'], fused('BiasAdd')],
        ['out', 'Identity', ['c2']],
      ],
      [
        ['k1', [3, 3, 3, 4]],
        ['bias1', [4]],
        ['g', [4]],
        ['beta', [4]],
        ['m', [4]],
        ['v', [4]],
        ['kd', [3, 3, 4, 2]],
        ['bd', [8]],
        ['k2', [1, 1, 8, 5]],
        ['b2', [5]],
      ],
    );
    const a = analyse(g);
    expect(a.groups.map((x) => [x.roots, x.size, x.blocked])).toEqual([
      [['c1'], 4, []],
      [['c2'], 5, [`it reaches the model's output out`]],
    ]);
    const s = a.groups[0]!.spaces[0]!;
    expect(a.edits.filter((e) => a.find(e.space) === s).map((e) => [e.weight, e.axis, e.factor])).toEqual([
      ['k1', 3, 1],
      ['bias1', 0, 1],
      ['g', 0, 1],
      ['beta', 0, 1],
      ['m', 0, 1],
      ['v', 0, 1],
      ['kd', 2, 1],
      ['bd', 0, 2],
      ['k2', 2, 2],
    ]);
    expect(a.gammas.get('c1')).toBe('g');
  });

  it('AddV2 ties two projections into one group; Mean over H, W ends at a MatMul’s rows (transpose_b: last axis)', () => {
    const g = graph(
      [
        ['p1', 'Conv2D', ['x', 'k1']],
        ['p2', 'Conv2D', ['p1', 'k2']],
        ['add', 'AddV2', ['p1', 'p2']],
        ['mean', 'Mean', ['add', 'axes'], { keep_dims: { b: false } }],
        ['fc', 'MatMul', ['mean', 'w'], { transpose_b: { b: true } }],
        ['out', 'Softmax', ['fc']],
      ],
      [
        ['k1', [1, 1, 3, 6]],
        ['k2', [1, 1, 6, 6]],
        ['axes', [2], [1, 2]],
        ['w', [10, 6]],
      ],
    );
    const a = analyse(g);
    const group = a.groups.find((x) => x.roots.includes('p1'))!;
    expect(group).toMatchObject({ roots: ['p1', 'p2'], merges: ['add'], size: 6, blocked: [] });
    expect(a.edits.find((e) => e.weight === 'w')).toMatchObject({ axis: 1, factor: 1 });
    expect(a.kernels.get('fc')).toEqual({ weight: 'w', inner: 6 });
    expect(a.groups.find((x) => x.roots.includes('fc'))!.blocked).toEqual([
      'it is read by out (Softmax), which prune-channels cannot follow',
    ]);
  });

  it('names what blocks: channel padding, a reduction over the channels, a shared or non-per-channel constant', () => {
    const reasons = (
      rows: [string, string, string[], Record<string, unknown>?][],
      extra: [string, number[], number[]?][],
    ) => analyse(graph([['c', 'Conv2D', ['x', 'k']], ...rows], [['k', [1, 1, 3, 4]], ...extra])).groups[0]!.blocked[0];
    expect(
      reasons(
        [
          ['pad', 'Pad', ['c', 'p']],
          ['o', 'Conv2D', ['pad', 'k2']],
        ],
        [
          ['p', [4, 2], [0, 0, 1, 1, 1, 1, 0, 1]],
          ['k2', [1, 1, 5, 2]],
        ],
      ),
    ).toBe('it is read by pad (Pad), which pads the channels (or pads by a tensor)');
    expect(reasons([['s', 'Sum', ['c', 'ax']]], [['ax', [1], [-1]]])).toBe(
      'it is read by s (Sum), which reduces over the channels (or over axes given by a tensor)',
    );
    expect(reasons([['mul', 'Mul', ['c', 'w']]], [['w', [2, 4]]])).toBe(
      'mul (Mul) combines it with the constant w [2, 4], which is not per-channel',
    );
    expect(
      reasons(
        [
          ['b', 'BiasAdd', ['c', 'bias']],
          ['b2', 'BiasAdd', ['x', 'bias']],
        ],
        [['bias', [4]]],
      ),
    ).toBe('its constant bias is also read by other nodes');
    expect(reasons([['t', 'Transpose', ['c', 'perm']]], [['perm', [4], [0, 3, 1, 2]]])).toBe(
      'it is read by t (Transpose), which prune-channels cannot follow',
    );
  });

  it('node helpers: fused args, the signature’s outputs (else unread nodes), inputs before readers', () => {
    expect(fusedArgs({ name: 'n', op: '_FusedConv2D', attr: fused('BiasAdd', 'Prelu') })).toEqual({
      bias: 2,
      alpha: 3,
    });
    expect(fusedArgs({ name: 'n', op: '_FusedConv2D', attr: fused('FusedBatchNorm', 'Relu') })).toMatch(
      /fuses FusedBatchNorm/,
    );
    const nodes: GraphNode[] = [
      { name: 'b', op: 'Relu', input: ['a:0', '^c'] },
      { name: 'a', op: 'Placeholder' },
      { name: 'c', op: 'NoOp' },
    ];
    expect(dataInputs(nodes[0]!)).toEqual([{ node: 'a', port: 0 }]);
    expect(outputNodes({ signature: { outputs: { y: { name: 'b:0' } } } }, nodes)).toEqual(['b']);
    expect(outputNodes({}, nodes)).toEqual(['b']);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    expect(topologicalOrder(nodes, byName).map((n) => n.name)).toEqual(['a', 'c', 'b']);
  });
});
