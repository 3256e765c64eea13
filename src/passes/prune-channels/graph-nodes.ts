/**
 * What prune-channels reads of a graph model's nodes: which ops keep a tensor's channels where they are, which
 * hold per-channel constants, which combine tensors element-wise, and how a node's constant inputs (through
 * Identity nodes) and attributes are found. The walk over the graph is ./graph-analyse.ts.
 */
import { fusedOps, inputNode, stringAttr, type GraphNode } from '../../model/index.js';

/** Nodes whose output channels can be removed: a constant filter's last axis (a MatMul's columns). */
export const ROOT_OPS = new Set(['Conv2D', '_FusedConv2D', 'MatMul', '_FusedMatMul']);
/** Depthwise convolutions: output channel c·m + j of input channel c (multiplier m). */
export const DEPTHWISE_OPS = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);
export const BATCH_NORM_OPS = new Set(['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']);
/** Fused activations after a fused op's BiasAdd, all channel-wise. */
export const FUSED_ACTIVATIONS = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Prelu', 'Sigmoid', 'Tanh']);
/** One-input ops (their other inputs, if any, constants) that keep every channel in place. */
export const KEEP_OPS = new Set([
  'Identity',
  'Relu',
  'Relu6',
  'Elu',
  'Selu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Softplus',
  'Softsign',
  'Neg',
  'Abs',
  'Square',
  'Sqrt',
  'Rsqrt',
  'Exp',
  'Log',
  'Log1p',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Erf',
  'Cast',
  'StopGradient',
  'Snapshot',
  'ResizeBilinear',
  'ResizeNearestNeighbor',
]);
/** Windows over H and W (NHWC, a window of 1 over the channels). */
export const POOL_OPS = new Set(['MaxPool', 'AvgPool']);
export const PAD_OPS = new Set(['Pad', 'PadV2', 'MirrorPad']);
/** Reductions: fine over the spatial axes, not over the channels. */
export const REDUCE_OPS = new Set(['Mean', 'Sum', 'Max', 'Min', 'Prod']);
/** Element-wise ops of two tensors: both must keep the same channels (a group), or one is a constant. */
export const ELEMENTWISE_OPS = new Set(['Add', 'AddV2', 'AddN', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum']);

/**
 * How a tensor's channels relate to a space of n channels: channel s·factor + r (r < factor), on the last axis.
 * `unit`: axes before the channels known to be size 1 (a reduction with keep_dims, the converter's `_output_shapes`).
 */
export interface GraphLayout {
  space: number;
  factor: number;
  rank: number;
  unit?: readonly number[];
}

/** A data input of a node: the producing node and which of its outputs. */
export interface Input {
  node: string;
  port: number;
}

export function dataInputs(node: GraphNode): Input[] {
  return (node.input ?? []).flatMap((i) => {
    const name = inputNode(i);
    if (name === undefined) return [];
    const port = i.length > name.length ? Number(i.slice(name.length + 1)) : 0;
    return [{ node: name, port }];
  });
}

export function intAttr(node: GraphNode, name: string): number[] | undefined {
  const list = (node.attr?.[name] as { list?: { i?: unknown[] } } | undefined)?.list?.i;
  return Array.isArray(list) ? list.map(Number) : undefined;
}

/** The values of a Const node's int32 tensor written in the node itself (`intVal` or `tensorContent`), if any. */
export function inlineInts(node: GraphNode): number[] | undefined {
  const t = (
    node.attr?.value as { tensor?: { dtype?: unknown; intVal?: unknown; tensorContent?: unknown } } | undefined
  )?.tensor;
  if (t?.dtype !== 'DT_INT32') return undefined;
  if (Array.isArray(t.intVal)) return t.intVal.map(Number);
  if (typeof t.tensorContent !== 'string') return undefined;
  const bytes = Buffer.from(t.tensorContent, 'base64');
  return [...new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))];
}

/** The node's `data_format` when it is not NHWC (absent means NHWC), for the reason it blocks. */
export function notNhwc(node: GraphNode): string | undefined {
  const f = stringAttr((node.attr?.data_format as { s?: unknown } | undefined)?.s);
  return f === undefined || f === 'NHWC' ? undefined : f;
}

/**
 * A fused op's extra inputs (from index 2) by what they hold, or why prune-channels cannot follow its fused ops:
 * a bias when they start with BiasAdd, then PReLU's slopes; activations are channel-wise.
 */
export function fusedArgs(node: GraphNode): { bias?: number; alpha?: number } | string {
  const ops = fusedOps(node);
  const odd = ops.find((o, i) => !(i === 0 && o === 'BiasAdd') && !FUSED_ACTIVATIONS.has(o));
  if (odd !== undefined) return `${node.name} (${node.op}) fuses ${odd}, which prune-channels does not rewire`;
  const bias = ops[0] === 'BiasAdd' ? 2 : undefined;
  const alpha = ops.includes('Prelu') ? (bias === undefined ? 2 : 3) : undefined;
  return { ...(bias === undefined ? {} : { bias }), ...(alpha === undefined ? {} : { alpha }) };
}

/** The graph's output nodes: the signature's, else (as TF.js does) every node nothing reads. */
export function outputNodes(json: Record<string, unknown>, nodes: readonly GraphNode[]): string[] {
  const sig = (json.signature ?? (json.userDefinedMetadata as { signature?: unknown } | undefined)?.signature) as
    { outputs?: Record<string, { name?: unknown }> } | undefined;
  const named = Object.values(sig?.outputs ?? {}).flatMap((o) =>
    typeof o?.name === 'string' ? [inputNode(o.name) ?? o.name] : [],
  );
  if (named.length) return named;
  // As TF.js: a node only a control input names is read too.
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => inputNode(i.replace(/^\^/, '')))));
  return nodes.filter((n) => n.op !== 'Const' && !read.has(n.name)).map((n) => n.name);
}

/** The nodes in an order where each comes after the nodes it reads (control inputs count too). */
export function topologicalOrder(nodes: readonly GraphNode[], byName: ReadonlyMap<string, GraphNode>): GraphNode[] {
  const out: GraphNode[] = [];
  const state = new Map<string, 1 | 2>();
  for (const start of nodes) {
    if (state.has(start.name)) continue;
    // Iterative DFS (graphs can be thousands of nodes deep).
    const stack: { n: GraphNode; i: number }[] = [{ n: start, i: 0 }];
    state.set(start.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const inputs = top.n.input ?? [];
      if (top.i < inputs.length) {
        const name = inputNode(inputs[top.i++]!.replace(/^\^/, '')) ?? '';
        const next = byName.get(name);
        if (next && !state.has(name)) {
          state.set(name, 1);
          stack.push({ n: next, i: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.n.name, 2);
      out.push(top.n);
    }
  }
  return out;
}
