/**
 * A graph model (tensorflowjs_converter's `format: "graph-model"`) read as layers: each weight (a `Const` node,
 * named like its manifest entry) found by the op that consumes it (graph-ops.ts), through any `Identity` nodes
 * between them, and given a role in the terms of layer-classes.ts. A "layer" is the consuming node: its name,
 * its op, the Keras class that computes the same thing, and its weights (a Conv2D's filter and the bias of the
 * BiasAdd after it; a fused op's filter and its `args`). The weight passes and the per-layer overrides see graph
 * models through this, so a pattern names the node a user sees in the topology.
 */
import { graphOp, WEIGHT_OP } from './graph-ops.js';
import type { WeightPass, WeightRole } from './layer-classes.js';

/** A node of `modelTopology.node`, as the converter writes it (attributes in proto-JSON form). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** One weight of a graph model as a layer's weight. */
export interface GraphWeight {
  /** The Const node's name: the weight's manifest name. */
  weight: string;
  /** The consuming node: the layer's name. */
  layer: string;
  /** Which of the node's inputs reads it (a MatMul's filter may be its left operand, 0); −1: the BiasAdd's after it. */
  input: number;
  role: WeightRole;
}

/** A node holding weights, as a layer. */
export interface GraphLayer {
  name: string;
  op: string;
  /** The Keras class that computes the same thing (Conv2D for _FusedConv2D); absent for a lone BiasAdd. */
  className?: string;
  weights: GraphWeight[];
}

export interface GraphView {
  nodes: readonly GraphNode[];
  node: (name: string) => GraphNode | undefined;
  layers: readonly GraphLayer[];
  /** Weight name → its use. A weight several layers read belongs to the first. */
  weights: ReadonlyMap<string, GraphWeight>;
  /** The layer a weight belongs to as overrides name layers: its consumer, else its name up to the last '/'. */
  layerOf: (weight: string) => string;
  /** The weight `pass` compresses, when `weight` is one (a kernel of a Conv2D, depthwise or MatMul node). */
  compressed: (weight: string, pass: WeightPass) => GraphWeight | undefined;
}

const views = new WeakMap<object, GraphView | null>();

/** The graph model's topology read as layers, or undefined for a layers model (cached per topology object). */
export function readGraph(json: Record<string, unknown>): GraphView | undefined {
  const topology = json.modelTopology as { node?: unknown } | undefined;
  if (typeof topology !== 'object' || topology === null || !Array.isArray(topology.node)) return undefined;
  let view = views.get(topology);
  if (view === undefined) {
    view = buildView(topology.node as GraphNode[]);
    views.set(topology, view);
  }
  return view ?? undefined;
}

/** "conv/Conv2D:0" → "conv/Conv2D"; a control input ("^x") is none. */
export function inputNode(input: string): string | undefined {
  if (input.startsWith('^')) return undefined;
  const colon = input.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(input.slice(colon + 1)) ? input.slice(0, colon) : input;
}

/** A string attribute (`{ s: base64 }`, or the bytes as numbers as old converters wrote them). */
export function stringAttr(value: unknown): string | undefined {
  if (typeof value === 'string') {
    try {
      return atob(value);
    } catch {
      return undefined;
    }
  }
  if (Array.isArray(value) && value.every((b) => typeof b === 'number')) return String.fromCharCode(...value);
  return undefined;
}

/** A node's `fused_ops` list ("BiasAdd", "Relu6"). */
export function fusedOps(node: GraphNode): string[] {
  const list = (node.attr?.fused_ops as { list?: { s?: unknown[] } } | undefined)?.list?.s ?? [];
  return list.flatMap((s) => stringAttr(s) ?? []);
}

export function boolAttr(node: GraphNode, name: string): boolean {
  return (node.attr?.[name] as { b?: unknown } | undefined)?.b === true;
}

function buildView(nodes: GraphNode[]): GraphView {
  const byName = new Map<string, GraphNode>();
  for (const n of nodes) if (typeof n?.name === 'string' && typeof n.op === 'string') byName.set(n.name, n);
  /** The Const node an input reads, through Identity nodes (bounded: a cycle of Identities is not followed). */
  const constOf = (input: string): string | undefined => {
    let name = inputNode(input);
    for (let hops = 0; name !== undefined && hops < 64; hops++) {
      const n = byName.get(name);
      if (!n) return undefined;
      if (n.op === WEIGHT_OP) return n.name;
      if (n.op !== 'Identity' || !n.input?.length) return undefined;
      name = inputNode(n.input[0]!);
    }
    return undefined;
  };
  const layers: GraphLayer[] = [];
  const byLayer = new Map<string, GraphLayer>();
  const weights = new Map<string, GraphWeight>();
  const add = (layer: GraphLayer, weight: string | undefined, role: WeightRole, input: number) => {
    if (weight === undefined || weights.has(weight)) return;
    const w = { weight, layer: layer.name, input, role };
    layer.weights.push(w);
    weights.set(weight, w);
  };
  for (const node of byName.values()) {
    const op = graphOp(node.op);
    if (!op || node.op === 'BiasAdd') continue;
    const inputs = node.input ?? [];
    const layer: GraphLayer = { name: node.name, op: node.op, ...(op.like ? { className: op.like } : {}), weights: [] };
    const main = op.weights.find((w) => w.key === 'kernel' || w.key === 'depthwise_kernel');
    if (main && (node.op === 'MatMul' || node.op === '_FusedMatMul')) {
      // y = a·b: the weight is b [in, out] ([out, in] with transpose_b), or a [out, in] ([in, out] with transpose_a).
      const b = constOf(inputs[1] ?? '');
      const a = b === undefined ? constOf(inputs[0] ?? '') : undefined;
      const flipped = b !== undefined ? boolAttr(node, 'transpose_b') : !boolAttr(node, 'transpose_a');
      add(
        layer,
        b ?? a,
        {
          key: 'kernel',
          outputAxis: flipped ? -2 : -1,
          inputAxis: flipped ? -1 : -2,
          ...(main.compress ? { compress: main.compress } : {}),
        },
        b === undefined ? 0 : 1,
      );
    } else if (main) {
      add(layer, constOf(inputs[main.input] ?? ''), roleOf(main), main.input);
    }
    if (op.fused) {
      // The extra inputs (`args`, from index 2) follow fused_ops: the bias when it starts with BiasAdd, then
      // PReLU's slopes. A fused batch norm (which TF.js cannot run) is left alone.
      const fused = fusedOps(node);
      const args = [...(fused[0] === 'BiasAdd' ? ['bias'] : []), ...(fused.includes('Prelu') ? ['alpha'] : [])];
      args.forEach((key, i) => add(layer, constOf(inputs[2 + i] ?? ''), { key, outputAxis: -1 }, 2 + i));
    } else {
      for (const w of op.weights) if (w !== main) add(layer, constOf(inputs[w.input] ?? ''), roleOf(w), w.input);
    }
    if (layer.weights.length === 0) continue;
    layers.push(layer);
    byLayer.set(layer.name, layer);
  }
  // A BiasAdd's bias belongs to the layer whose output it adds to (a Conv2D or MatMul node); else it is a layer.
  for (const node of byName.values()) {
    if (node.op !== 'BiasAdd') continue;
    const bias = constOf(node.input?.[1] ?? '');
    if (bias === undefined) continue;
    const from = byLayer.get(inputNode(node.input?.[0] ?? '') ?? '');
    const target =
      from && !from.weights.some((w) => w.role.key === 'bias') && graphOp(from.op)?.fused !== true
        ? from
        : { name: node.name, op: node.op, weights: [] };
    add(target, bias, { key: 'bias', outputAxis: -1 }, target === from ? -1 : 1);
    if (target !== from && target.weights.length) {
      layers.push(target);
      byLayer.set(target.name, target);
    }
  }
  return {
    nodes,
    node: (name) => byName.get(name),
    layers,
    weights,
    layerOf: (weight) => weights.get(weight)?.layer ?? weightGroup(weight),
    compressed: (weight, pass) => {
      const w = weights.get(weight);
      return w?.role.compress?.includes(pass) ? w : undefined;
    },
  };
}

function roleOf(w: {
  key: string;
  outputAxis: number;
  inputAxis?: number;
  compress?: readonly WeightPass[];
}): WeightRole {
  return {
    key: w.key,
    outputAxis: w.outputAxis,
    ...(w.inputAxis !== undefined ? { inputAxis: w.inputAxis } : {}),
    ...(w.compress ? { compress: w.compress } : {}),
  };
}

/** A weight no known op reads: grouped by its name up to the last '/', as before graph models were read. */
export function weightGroup(name: string): string {
  const cut = name.lastIndexOf('/');
  return cut > 0 ? name.slice(0, cut) : name;
}

/**
 * The axis a per-channel scale runs over in the packed format, whose channels are the flat index over the
 * trailing axes: the output channels when they are trailing, else (a transposed MatMul operand [out, in])
 * the last axis, one scale per input column.
 */
export function packedChannelAxis(role: WeightRole, rank: number): number {
  return role.inputAxis !== undefined && role.inputAxis > role.outputAxis ? rank - 1 : rank + role.outputAxis;
}
