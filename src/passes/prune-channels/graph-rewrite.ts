/**
 * The surgery on a graph model: every constant the analysis recorded (filters, biases, batch-norm parameters,
 * PReLU slopes, depthwise filters, the next filter's input channels) keeps the entries of the kept channels; the
 * Const nodes' shapes and the `_input_shapes` the converter leaves on fused ops follow. Nodes keep their names
 * and inputs, so nothing else in the graph changes; constants it does not touch keep their stored bytes, and
 * sliced ones the converter stored uint8, uint16 or float16 keep that form (their kept elements, as stored). A
 * Reshape's shape constant that names a pruned width gets the new width (in the manifest or in its Const node), a
 * Squeeze without squeeze_dims gets them written out (so that one kept channel is not squeezed too), and the
 * `_output_shapes` the converter may leave on a node carrying a pruned tensor say its new width.
 */
import {
  concatBytes,
  storedWeights,
  weightByteLength,
  type GraphNode,
  type StoredModel,
  type WeightSpec,
} from '../../model/index.js';
import type { GraphAnalysis, GraphConst } from './graph-analyse.js';
import { dataInputs, inlineInts } from './graph-nodes.js';
import { sliceAxis, type Elements, type Sliced } from './slice.js';

/** The converter's own stored forms, whose elements are sliced as stored (same min and scale: the same values). */
const NATIVE = new Set(['uint8', 'uint16', 'float16']);

/** The model with each space's kept channels (`keepOf`: canonical space → kept channels) sliced out of its constants. */
export function rewriteGraph(
  model: StoredModel,
  analysis: GraphAnalysis,
  consts: ReadonlyMap<string, GraphConst>,
  keepOf: ReadonlyMap<number, number[]>,
): StoredModel {
  const expand = (kept: readonly number[], factor: number): number[] =>
    factor === 1 ? [...kept] : kept.flatMap((c) => Array.from({ length: factor }, (_, r) => c * factor + r));
  const stored = new Map<string, { spec: WeightSpec; bytes: Uint8Array }>();
  let at = 0;
  for (const spec of model.weightSpecs) {
    const length = weightByteLength(spec);
    stored.set(spec.name, { spec, bytes: model.weightData.subarray(at, at + length) });
    at += length;
  }
  // A tensor the source stored uint8, uint16 or float16 keeps that form: its elements are sliced as stored.
  const elements = (name: string): Elements => {
    const { spec, bytes } = stored.get(name)!;
    const q = spec.quantization?.dtype;
    if (q === undefined || !NATIVE.has(q)) return consts.get(name)!.values as Float32Array;
    if (q === 'uint8') return bytes;
    const copy = bytes.slice();
    return new Uint16Array(copy.buffer, 0, copy.byteLength / 2);
  };
  const changed = new Map<string, Sliced>();
  for (const e of analysis.edits) {
    const kept = keepOf.get(analysis.find(e.space));
    if (!kept) continue;
    const current = changed.get(e.weight) ?? { shape: consts.get(e.weight)!.shape, values: elements(e.weight) };
    changed.set(e.weight, sliceAxis(current, e.axis, expand(kept, e.factor)));
  }

  const topology = model.json.modelTopology as { node: GraphNode[] };
  const byName = new Map(topology.node.map((n) => [n.name, n]));
  const constBehind = (name: string): string | undefined => {
    for (let hops = 0, n = byName.get(name); n && hops < 64; hops++, n = byName.get(dataInputs(n)[0]?.node ?? '')) {
      if (n.op === 'Const') return n.name;
      if (n.op !== 'Identity') return undefined;
    }
    return undefined;
  };
  const width = (input: string): number | undefined => {
    const t = analysis.layouts.get(input);
    const kept = t && keepOf.get(analysis.find(t.space));
    return kept && kept.length * t.factor;
  };
  // Reshape shape constants and Squeeze dims of pruned spaces (./graph-flatten.ts).
  const shapes = new Map<string, Int32Array>();
  for (const e of analysis.shapes) {
    const kept = keepOf.get(analysis.find(e.space));
    if (!kept) continue;
    const values = Int32Array.from(consts.get(e.weight)?.values ?? inlineInts(byName.get(e.weight)!) ?? []);
    values[e.index] = kept.length * e.factor;
    shapes.set(e.weight, values);
  }
  const squeezes = new Map(
    analysis.squeezes.filter((e) => keepOf.has(analysis.find(e.space))).map((e) => [e.node, e.dims]),
  );
  const dims = (shape: readonly number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
  const withTensor = (n: GraphNode, edit: Record<string, unknown>): GraphNode => {
    const value = n.attr?.value as { tensor?: Record<string, unknown> } | undefined;
    if (!value?.tensor) return n;
    return { ...n, attr: { ...n.attr, value: { ...value, tensor: { ...value.tensor, ...edit } } } };
  };
  const node = topology.node.map((n) => withOutputShapes(rewired(n), width(n.name)));
  function rewired(n: GraphNode): GraphNode {
    const sliced = n.op === 'Const' ? changed.get(n.name) : undefined;
    if (sliced) return withTensor(n, { tensorShape: dims(sliced.shape) });
    const shape = n.op === 'Const' && !consts.has(n.name) ? shapes.get(n.name) : undefined;
    if (shape) {
      const t = (n.attr?.value as { tensor?: { intVal?: unknown } } | undefined)?.tensor;
      const bytes = new Uint8Array(shape.buffer);
      return withTensor(
        n,
        Array.isArray(t?.intVal) ? { intVal: [...shape] } : { tensorContent: Buffer.from(bytes).toString('base64') },
      );
    }
    const squeeze = squeezes.get(n.name);
    if (squeeze) {
      const { axis: _axis, ...attr } = n.attr ?? {};
      return { ...n, attr: { ...attr, squeeze_dims: { list: { i: squeeze.map(String) } } } };
    }
    // The shapes Grappler recorded of a fused op's inputs: the widths of pruned tensors and constants change.
    const recorded = (n.attr?._input_shapes as { list?: { shape?: { dim?: { size?: string }[] }[] } } | undefined)?.list
      ?.shape;
    if (!Array.isArray(recorded)) return n;
    let touched = false;
    const inputShapes = dataInputs(n).map((input, i) => {
      const old = recorded[i];
      if (old === undefined) return old;
      const k = constBehind(input.node);
      const s = k === undefined ? undefined : changed.get(k);
      if (s) {
        touched = true;
        return dims(s.shape);
      }
      const w = input.port === 0 ? width(input.node) : undefined;
      const last = old.dim?.at(-1);
      if (w === undefined || !old.dim || last === undefined || !(Number(last.size) > 0)) return old;
      touched = true;
      return { ...old, dim: [...old.dim.slice(0, -1), { ...last, size: String(w) }] };
    });
    if (!touched) return n;
    const list = [...inputShapes, ...recorded.slice(inputShapes.length)];
    return { ...n, attr: { ...n.attr, _input_shapes: { list: { shape: list } } } };
  }

  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const { spec, stored } of storedWeights(model)) {
    const ints = shapes.get(spec.name);
    if (ints) {
      const { quantization: _q, ...plain } = spec;
      specs.push({ ...plain, dtype: 'int32' });
      chunks.push(new Uint8Array(ints.buffer));
      continue;
    }
    const s = changed.get(spec.name);
    if (!s) {
      specs.push(spec);
      chunks.push(stored);
      continue;
    }
    if (s.values instanceof Float32Array) {
      const { quantization: _q, ...plain } = spec;
      specs.push({ ...plain, shape: s.shape, dtype: 'float32' });
    } else specs.push({ ...spec, shape: s.shape });
    chunks.push(new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength));
  }
  return {
    ...model,
    json: { ...model.json, modelTopology: { ...topology, node } },
    weightSpecs: specs,
    weightData: concatBytes(chunks),
  };
}

/** The node with the width of its first output's last axis, as the converter recorded it, set to `width`. */
function withOutputShapes(n: GraphNode, width: number | undefined): GraphNode {
  const recorded = (n.attr?._output_shapes as { list?: { shape?: { dim?: { size?: string }[] }[] } } | undefined)?.list
    ?.shape;
  const first = Array.isArray(recorded) ? recorded[0] : undefined;
  const last = first?.dim?.at(-1);
  if (width === undefined || !first?.dim || last === undefined || !(Number(last.size) > 0)) return n;
  const shape = [
    { ...first, dim: [...first.dim.slice(0, -1), { ...last, size: String(width) }] },
    ...recorded!.slice(1),
  ];
  return { ...n, attr: { ...n.attr, _output_shapes: { list: { shape } } } };
}
