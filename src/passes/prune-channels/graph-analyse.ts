/**
 * The channel spaces of a graph model, for prune-channels: what ./analyse.ts does for layers models, over the
 * frozen graph's nodes (./graph-nodes.ts says which op does what). Walking the nodes in order, every Conv2D or
 * MatMul node (fused or not) with a constant filter opens a channel space (the node is its root: filter, bias and
 * PReLU slopes are sliced along its output channels); the space follows the tensor through
 *  - BiasAdd, FusedBatchNorm (V2, V3), Prelu and element-wise ops with a per-channel constant: the constant is sliced;
 *  - depthwise convolutions: filter, bias and slopes are sliced (channel c·m + j of multiplier m), and the space
 *    continues through them;
 *  - activations, Identity, pooling and resizing, Pad without channel padding, reductions over other axes;
 *  - a Squeeze or Reshape that only drops size-1 axes before the channels (./graph-flatten.ts): [b, 1, 1, C] → [b, C];
 * and ends where a Conv2D's filter (input channels) or a MatMul's weight rows read it. Element-wise ops of two
 * followed tensors (AddV2 of a residual connection) tie their spaces into one group, pruned with one selection.
 * Anything else reading a space, a shared constant, or a model output blocks its group, with the reason.
 */
import { boolAttr, elementCount, type GraphNode } from '../../model/index.js';
import { ChannelSpaces, type Group } from './spaces.js';
import {
  recordedUnitAxes,
  reshapeLayout,
  spatial,
  squeezeLayout,
  withUnit,
  type ShapeEdit,
  type SqueezeEdit,
} from './graph-flatten.js';
import {
  BATCH_NORM_OPS,
  dataInputs,
  DEPTHWISE_OPS,
  ELEMENTWISE_OPS,
  fusedArgs,
  inlineInts,
  intAttr,
  KEEP_OPS,
  notNhwc,
  outputNodes,
  PAD_OPS,
  POOL_OPS,
  REDUCE_OPS,
  ROOT_OPS,
  topologicalOrder,
  type GraphLayout,
} from './graph-nodes.js';

export type { GraphLayout } from './graph-nodes.js';

/** The ops a space is followed through (others block it). */
const FOLLOWED = [
  DEPTHWISE_OPS,
  BATCH_NORM_OPS,
  KEEP_OPS,
  POOL_OPS,
  PAD_OPS,
  REDUCE_OPS,
  ELEMENTWISE_OPS,
  new Set(['BiasAdd', 'Prelu', 'Squeeze', 'Reshape']),
];

/** A constant of the graph (a manifest entry): its shape, dtype and (decoded) values. */
export interface GraphConst {
  shape: number[];
  dtype: string;
  values: Float32Array | Int32Array | Uint8Array;
}

/** A constant sliced along `axis` when its space loses channels: entries c·factor + r of each kept channel c. */
export interface GraphEdit {
  node: string;
  weight: string;
  axis: number;
  space: number;
  factor: number;
}

export interface GraphAnalysis {
  groups: Group[];
  edits: GraphEdit[];
  /** Reshape shape constants and Squeeze dims that change with a space's channel count. */
  shapes: ShapeEdit[];
  squeezes: SqueezeEdit[];
  find(space: number): number;
  /** Node → the layout of its output, for nodes that carry a space. */
  layouts: Map<string, GraphLayout>;
  /** Root → its filter constant and, for a matrix stored [out, in], the number of its inputs (else 1). */
  kernels: Map<string, { weight: string; inner: number }>;
  /** Root → the scale (gamma) constant of the FusedBatchNorm right after it (through its BiasAdd), if any. */
  gammas: Map<string, string>;
}

/** Walks the graph once: spaces, the groups element-wise ops make of them, the constants to slice, what blocks them. */
export function analyseGraph(
  json: Record<string, unknown>,
  nodes: readonly GraphNode[],
  consts: ReadonlyMap<string, GraphConst>,
): GraphAnalysis {
  const spaces = new ChannelSpaces();
  const { find } = spaces;
  const union = (a: number, b: number) => spaces.union(a, b);
  const block = (s: number, why: string) => spaces.block(s, why);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const readers = new Map<string, GraphNode[]>();
  for (const n of nodes) for (const i of dataInputs(n)) readers.set(i.node, [...(readers.get(i.node) ?? []), n]);
  /** The Const node a node's input is, through Identity nodes, and whether nothing else reads it. */
  const constNodeOf = (node: GraphNode, input: number): { weight: string; shared: boolean } | undefined => {
    let name = dataInputs(node)[input]?.node;
    let shared = false;
    for (let hops = 0; name !== undefined && hops < 64; hops++) {
      const n = byName.get(name);
      if (!n) return undefined;
      shared ||= (readers.get(name)?.length ?? 0) > 1;
      if (n.op === 'Const') return { weight: name, shared };
      if (n.op !== 'Identity') return undefined;
      name = dataInputs(n)[0]?.node;
    }
    return undefined;
  };
  /** The same, for a constant of the weights manifest. */
  const constOf = (node: GraphNode, input: number) => {
    const c = constNodeOf(node, input);
    return c && consts.has(c.weight) ? c : undefined;
  };
  /** A shape constant's values: int32 in the manifest, or written in its Const node. */
  const shapeValues = (name: string): number[] | undefined => {
    const k = consts.get(name);
    if (k) return k.dtype === 'int32' ? [...k.values] : undefined;
    return inlineInts(byName.get(name)!);
  };
  const layouts = new Map<string, GraphLayout>();
  const edits: GraphEdit[] = [];
  const shapes: ShapeEdit[] = [];
  const squeezes: SqueezeEdit[] = [];
  const kernels = new Map<string, { weight: string; inner: number }>();
  /** Slices input `input` of `node` along `axis` with space `space`; the reason it cannot, or undefined. */
  const edit = (node: GraphNode, input: number, axis: number, space: number, factor: number): string | undefined => {
    const c = constOf(node, input);
    if (!c) return `${node.name} (${node.op}) reads a tensor that is not a constant as its input ${input}`;
    if (c.shared) return `its constant ${c.weight} is also read by other nodes`;
    const k = consts.get(c.weight)!;
    if (k.dtype !== 'float32') return `its constant ${c.weight} is ${k.dtype}, not float32`;
    const a = axis < 0 ? k.shape.length + axis : axis;
    if (k.shape[a] !== spaces.size(space) * factor)
      return `its constant ${c.weight} [${k.shape.join(', ')}] does not hold ${spaces.size(space) * factor} channels on axis ${a}`;
    edits.push({ node: node.name, weight: c.weight, axis: a, space, factor });
    return undefined;
  };
  /** A per-channel or scalar constant operand; the reason it is neither. */
  const channelConst = (node: GraphNode, input: number, t: GraphLayout): string | undefined => {
    const c = constOf(node, input);
    const k = c && consts.get(c.weight);
    if (!c || !k) return `${node.name} (${node.op}) combines it with a tensor prune-channels does not follow`;
    if (elementCount(k.shape) === 1) return undefined;
    if (k.shape.length > t.rank || k.shape.slice(0, -1).some((d) => d !== 1))
      return `${node.name} (${node.op}) combines it with the constant ${c.weight} [${k.shape.join(', ')}], which is not per-channel`;
    return edit(node, input, -1, t.space, t.factor);
  };
  const open = (root: string, size: number): number => {
    const s = spaces.add(root, size);
    return s;
  };

  for (const node of topologicalOrder(nodes, byName)) {
    if (node.op === 'Const') continue;
    const ins = dataInputs(node);
    const at = ins.map((i) => (i.port === 0 ? layouts.get(i.node) : undefined));
    for (const i of ins) {
      const t = layouts.get(i.node);
      if (t && i.port !== 0) block(t.space, `${node.name} (${node.op}) reads its output ${i.node}:${i.port}`);
    }
    const tracked = at.filter((x): x is GraphLayout => x !== undefined);
    const blockAll = (why: string) => tracked.forEach((t) => block(t.space, why));
    const readBy = (what = 'which prune-channels cannot follow') => `it is read by ${node.name} (${node.op}), ${what}`;
    const inp = at[0];
    const onlyFirst = at.every((t, i) => i === 0 || t === undefined);
    const fail = (why: string | undefined, s: number) => why !== undefined && block(s, why);
    const op = node.op;
    if (ROOT_OPS.has(op)) {
      const matmul = op.endsWith('MatMul');
      const kernel = constOf(node, 1);
      const k = kernel && consts.get(kernel.weight);
      if (!k || !onlyFirst || (matmul && boolAttr(node, 'transpose_a'))) {
        blockAll(readBy('whose filter is not a constant it reads as its second input'));
        continue;
      }
      const rank = k.shape.length;
      const transposed = matmul && boolAttr(node, 'transpose_b');
      const [outAxis, inAxis] = transposed ? [rank - 2, rank - 1] : [rank - 1, rank - 2];
      const format = matmul ? undefined : notNhwc(node);
      if (inp) {
        if (format !== undefined) block(inp.space, readBy(`which is ${format}`));
        else if (inp.rank !== (matmul ? 2 : 4)) block(inp.space, readBy(`which reads it as a rank-${inp.rank} tensor`));
        else fail(edit(node, 1, inAxis, inp.space, inp.factor), inp.space);
      }
      const s = open(node.name, k.shape[outAxis]!);
      if (format !== undefined) block(s, `${node.name} is ${format}`);
      fail(edit(node, 1, outAxis, s, 1), s);
      const args = op.startsWith('_Fused') ? fusedArgs(node) : {};
      if (typeof args === 'string') block(s, args);
      else {
        if (args.bias !== undefined) fail(edit(node, args.bias, -1, s, 1), s);
        if (args.alpha !== undefined) fail(channelConst(node, args.alpha, { space: s, factor: 1, rank: 4 }), s);
      }
      kernels.set(node.name, { weight: kernel.weight, inner: transposed ? k.shape[rank - 1]! : 1 });
      layouts.set(node.name, { space: s, factor: 1, rank: matmul ? 2 : 4 });
      continue;
    }
    if (tracked.length === 0) continue; // reads the model's inputs or untracked tensors only
    if (!FOLLOWED.some((ops) => ops.has(op))) {
      blockAll(readBy());
      continue;
    }
    if (!ELEMENTWISE_OPS.has(op) && (!inp || !onlyFirst)) {
      blockAll(readBy('which reads it as more than its first input'));
      continue;
    }
    if (DEPTHWISE_OPS.has(op)) {
      const format = notNhwc(node);
      const args = op.startsWith('Fused') ? fusedArgs(node) : {};
      const k = constOf(node, 1);
      const m = (k && consts.get(k.weight)?.shape[3]) ?? 0;
      if (format !== undefined) block(inp!.space, readBy(`which is ${format}`));
      if (typeof args === 'string') block(inp!.space, args);
      fail(edit(node, 1, 2, inp!.space, inp!.factor), inp!.space);
      const out: GraphLayout = { space: inp!.space, factor: inp!.factor * Math.max(1, m), rank: 4 };
      if (typeof args !== 'string') {
        if (args.bias !== undefined) fail(edit(node, args.bias, -1, out.space, out.factor), out.space);
        if (args.alpha !== undefined) fail(channelConst(node, args.alpha, out), out.space);
      }
      layouts.set(node.name, out);
      continue;
    }
    const t = inp!;
    if (op === 'BiasAdd' || op === 'Prelu' || BATCH_NORM_OPS.has(op)) {
      const format = notNhwc(node);
      if (format !== undefined) block(t.space, readBy(`which is ${format}`));
      if (boolAttr(node, 'is_training')) block(t.space, readBy('which is in training mode'));
      if (op === 'BiasAdd') fail(edit(node, 1, -1, t.space, t.factor), t.space);
      else if (op === 'Prelu') fail(channelConst(node, 1, t), t.space);
      else for (let i = 1; i <= 4; i++) fail(edit(node, i, -1, t.space, t.factor), t.space);
      layouts.set(node.name, t);
      continue;
    }
    if (KEEP_OPS.has(op)) {
      layouts.set(node.name, op.startsWith('Resize') ? spatial(t) : t);
      continue;
    }
    if (op === 'Squeeze' || op === 'Reshape') {
      const known = withUnit(t, recordedUnitAxes(byName.get(ins[0]!.node), ins[0]!.port, t.rank));
      const width = spaces.size(t.space) * t.factor;
      const shape = op === 'Reshape' ? constNodeOf(node, 1) : undefined;
      const r =
        op === 'Squeeze'
          ? squeezeLayout(node, known, width)
          : reshapeLayout(known, width, shape && shapeValues(shape.weight));
      if (typeof r === 'string') {
        block(t.space, readBy(`which may move its channels: ${r}`));
        continue;
      }
      const out = r.layout;
      if (r.dims) squeezes.push({ node: node.name, dims: r.dims, space: t.space });
      if (shape) {
        if (shape.shared) block(t.space, `its shape constant ${shape.weight} is also read by other nodes`);
        shapes.push({ node: node.name, weight: shape.weight, index: out.rank - 1, space: t.space, factor: t.factor });
      }
      layouts.set(node.name, out);
      continue;
    }
    if (POOL_OPS.has(op)) {
      const format = notNhwc(node);
      if (format !== undefined) block(t.space, readBy(`which is ${format}`));
      else if (intAttr(node, 'ksize')?.[3] !== 1 || intAttr(node, 'strides')?.[3] !== 1)
        block(t.space, readBy('whose window spans channels'));
      layouts.set(node.name, spatial(t));
      continue;
    }
    if (PAD_OPS.has(op)) {
      const c = constOf(node, 1);
      const p = c && consts.get(c.weight);
      const last = p && p.shape.length === 2 ? [...p.values.slice(p.values.length - 2)] : undefined;
      if (!last || last.some((x) => x !== 0)) block(t.space, readBy('which pads the channels (or pads by a tensor)'));
      else if (op === 'PadV2') fail(channelConst(node, 2, t), t.space);
      layouts.set(node.name, spatial(t));
      continue;
    }
    if (REDUCE_OPS.has(op)) {
      const c = constOf(node, 1);
      const axes = c && consts.get(c.weight)?.values;
      const norm = axes && new Set([...axes].map((a) => (a < 0 ? a + t.rank : a)));
      if (!norm || norm.has(t.rank - 1)) {
        block(t.space, readBy('which reduces over the channels (or over axes given by a tensor)'));
        continue;
      }
      // keep_dims: the reduced axes are size 1 (a Squeeze or Reshape after it may drop them).
      const keep = boolAttr(node, 'keep_dims');
      const unit = (t.unit ?? []).filter((a) => !norm.has(a)).map((a) => a - [...norm].filter((d) => d < a).length);
      const reduced = { space: t.space, factor: t.factor, rank: keep ? t.rank : t.rank - norm.size };
      layouts.set(node.name, keep ? withUnit(t, [...norm]) : withUnit(reduced, unit));
      continue;
    }
    if (ELEMENTWISE_OPS.has(op)) {
      const first = tracked[0]!;
      const odd = tracked.find((x) => x.factor !== first.factor || x.rank !== first.rank);
      if (odd) {
        blockAll(`${node.name} (${op}) combines it with a tensor whose channels are laid out differently`);
        continue;
      }
      at.forEach((x, i) => {
        if (x === undefined) fail(channelConst(node, i, first), first.space);
      });
      for (const x of tracked) union(first.space, x.space);
      if (tracked.length > 1) spaces.merged(first.space, node.name);
      // Size 1 only where every followed operand is (a constant operand is per-channel or scalar).
      const unit = (first.unit ?? []).filter((a) => tracked.every((x) => x.unit?.includes(a)));
      layouts.set(node.name, withUnit(spatial(first), unit));
      continue;
    }
  }
  for (const o of outputNodes(json, nodes)) {
    const t = layouts.get(o);
    if (t) block(t.space, kernels.has(o) ? `${o} is the model's output` : `it reaches the model's output ${o}`);
  }

  const groups = spaces.groups('nodes');
  return { groups, edits, shapes, squeezes, find, layouts, kernels, gammas: gammasOf(kernels, readers, constOf) };
}

/** Each root's FusedBatchNorm scale, when the batch norm is the only reader of it (or of its one BiasAdd). */
function gammasOf(
  kernels: ReadonlyMap<string, unknown>,
  readers: ReadonlyMap<string, GraphNode[]>,
  constOf: (node: GraphNode, input: number) => { weight: string } | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const root of kernels.keys()) {
    let next = readers.get(root);
    if (next?.length === 1 && next[0]!.op === 'BiasAdd') next = readers.get(next[0]!.name);
    const bn = next?.length === 1 && BATCH_NORM_OPS.has(next[0]!.op) ? next[0]! : undefined;
    const gamma = bn && constOf(bn, 1);
    if (gamma) out.set(root, gamma.weight);
  }
  return out;
}
