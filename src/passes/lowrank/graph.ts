/**
 * lowrank on a graph model: a Conv2D or MatMul node (fused or not) whose filter is a constant becomes two nodes.
 * The first, `<node>_lr1`, a plain Conv2D (same strides, padding and dilations) or MatMul (same transpose_a), applies
 * A = U_r·S_r^{1/2} to the node's input; the node itself keeps its name, op, bias and activation and applies
 * B = S_r^{1/2}·V_rᵀ (a 1×1 convolution with stride 1, or a matrix) to that, so the nodes reading it are unchanged.
 * The filter's constant gives way to `<filter>_lr1` and `<filter>_lr2` in the topology and the manifest, at its
 * place; weights it does not touch keep their stored bytes.
 */
import { chooseRank, keptEnergyFraction, lowRankFactors, reconstructionError, spectrum } from '../../algorithms/svd.js';
import { McbError } from '../../errors.js';
import {
  concatBytes,
  decodeWeights,
  inputNode,
  paramCount,
  storedWeights,
  type GraphLayer,
  type GraphNode,
  type GraphView,
  type StoredModel,
  type WeightSpec,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { lowrankStats } from './stats.js';
import { SKIPPED_BY_OVERRIDE, type LayerOptions, type OptionsPlace } from '../define.js';
import type { DecomposedLayer } from './factor.js';
import { rankRule, type LowrankOptions } from './options.js';
import type { SkippedLayer } from './select.js';

const FACTORED: Readonly<Record<string, 'Conv2D' | 'Dense'>> = {
  Conv2D: 'Conv2D',
  _FusedConv2D: 'Conv2D',
  MatMul: 'Dense',
  _FusedMatMul: 'Dense',
};

const ints = (xs: number[]) => ({ list: { i: xs.map(String) } });

interface Split {
  layer: GraphLayer;
  node: GraphNode;
  /** The filter constant and the Identity nodes between it and the node, read by nothing else. */
  kernel: string;
  chain: string[];
  a: WeightSpec & { values: Float32Array };
  b: WeightSpec & { values: Float32Array };
}

export function decomposeGraph(
  model: StoredModel,
  graph: GraphView,
  options: LowrankOptions,
  place: OptionsPlace | undefined,
  layerOptions: LayerOptions<LowrankOptions>,
  progress: (message: string) => void,
): { model: StoredModel; stats: Record<string, unknown> } {
  const readers = new Map<string, number>();
  for (const n of graph.nodes)
    for (const i of n.input ?? []) readers.set(inputNode(i) ?? '', (readers.get(inputNode(i) ?? '') ?? 0) + 1);
  const kernelLayers = graph.layers.filter((l) => l.weights.some((w) => w.role.compress !== undefined));
  if (options.layers) {
    const known = new Set(kernelLayers.filter((l) => FACTORED[l.op]).map((l) => l.name));
    const missing = options.layers.find((l) => !known.has(l));
    if (missing !== undefined)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...(place?.path ?? []), 'layers'])}\`${place ? ` at ${place.at('layers')}` : ''} names ${JSON.stringify(missing)}, which is not a Conv2D or MatMul node of the graph holding a constant filter; the graph has ${[...known].slice(0, 8).join(', ') || 'none'}.`,
      );
  }
  const values = new Map(decodeWeights(model, { share: true }).map((w) => [w.spec.name, w]));
  const decomposed: DecomposedLayer[] = [];
  const skipped: SkippedLayer[] = [];
  const splits: Split[] = [];
  for (const layer of kernelLayers) {
    if (options.layers && !options.layers.includes(layer.name)) continue;
    const className = FACTORED[layer.op] ?? layer.className ?? layer.op;
    const skip = (reason: string) => skipped.push({ layer: layer.name, className, reason });
    if (!FACTORED[layer.op]) {
      skip('a depthwise filter has one filter per channel: there is no channel-mixing matrix to factor');
      continue;
    }
    const o = layerOptions(layer.name);
    if (o === null) {
      skip(SKIPPED_BY_OVERRIDE);
      continue;
    }
    const node = graph.node(layer.name)!;
    const kernel = layer.weights.find((w) => w.role.compress !== undefined)!;
    const w = values.get(kernel.weight);
    if (!w || !(w.values instanceof Float32Array) || w.spec.dtype !== 'float32') {
      skip(`its filter ${kernel.weight} is not a float32 weight`);
      continue;
    }
    if (kernel.input !== 1) {
      skip('its constant is the left operand of the product, not a filter applied to its input');
      continue;
    }
    if (kernel.role.inputAxis !== -2) {
      skip('its filter is stored transposed ([out, in])');
      continue;
    }
    // The Identity nodes between the constant and the node go with it; a filter others read too stays.
    const chain: string[] = [];
    let at = inputNode(node.input?.[1] ?? '') ?? '';
    while (at !== kernel.weight && graph.node(at)?.op === 'Identity') {
      chain.push(at);
      at = inputNode(graph.node(at)!.input?.[0] ?? '') ?? '';
    }
    if ([kernel.weight, ...chain].some((n) => (readers.get(n) ?? 0) > 1)) {
      skip(`its filter ${kernel.weight} is also read by other nodes`);
      continue;
    }
    const shape = w.spec.shape;
    const n = shape[shape.length - 1]!;
    const m = w.values.length / n;
    for (const x of w.values)
      if (x - x !== 0)
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight ${kernel.weight} holds ${x}${place ? ` (the lowrank pass at ${place.at()})` : ''}; a model with non-finite weights cannot be decomposed.`,
        );
    const biasCount = layer.weights.some((x) => x.role.key === 'bias') ? n : 0;
    let choice = 'energy' in o ? undefined : chooseRank(o, m, n, biasCount);
    if (choice && 'skip' in choice) {
      skip(choice.skip);
      continue;
    }
    progress(`lowrank: SVD of ${layer.name} (${m}×${n})`);
    const s = spectrum(w.values, m, n);
    choice ??= chooseRank(o, m, n, biasCount, s.energies);
    if ('skip' in choice) {
      skip(choice.skip);
      continue;
    }
    const r = choice.rank;
    const f = lowRankFactors(w.values, s, r);
    const error = reconstructionError(w.values, f, m, n);
    splits.push({
      layer,
      node,
      kernel: kernel.weight,
      chain,
      a: { name: `${kernel.weight}_lr1`, shape: [...shape.slice(0, -1), r], dtype: 'float32', values: f.a },
      b: {
        name: `${kernel.weight}_lr2`,
        shape: [...shape.slice(0, -2).map(() => 1), r, n],
        dtype: 'float32',
        values: f.b,
      },
    });
    decomposed.push({
      layer: layer.name,
      className: FACTORED[layer.op]!,
      matrix: [m, n],
      rank: r,
      into: [`${layer.name}_lr1`, layer.name],
      paramsBefore: choice.paramsBefore,
      paramsAfter: choice.paramsAfter,
      energyKept: keptEnergyFraction(s, r),
      relativeError: s.total > 0 ? Math.sqrt(error / s.total) : 0,
      ...(o === options ? {} : { override: rankRule(o) }),
    });
  }
  const paramsBefore = paramCount(model);
  const stats = lowrankStats(options, decomposed, skipped, paramsBefore);
  if (splits.length === 0) return { model, stats: { ...stats, paramsAfter: paramsBefore } };
  const out = rewrite(model, splits);
  return { model: out, stats: { ...stats, paramsAfter: paramCount(out) } };
}

/** The model with each split made: nodes and constants replaced in place, the weights in manifest order. */
function rewrite(model: StoredModel, splits: readonly Split[]): StoredModel {
  const byNode = new Map(splits.map((s) => [s.node.name, s]));
  const byKernel = new Map(splits.map((s) => [s.kernel, s]));
  const gone = new Set(splits.flatMap((s) => s.chain));
  const topology = model.json.modelTopology as { node: GraphNode[] };
  const constNode = (spec: WeightSpec) => ({
    name: spec.name,
    op: 'Const',
    attr: {
      value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: spec.shape.map((d) => ({ size: String(d) })) } } },
      dtype: { type: 'DT_FLOAT' },
    },
  });
  const node = topology.node.flatMap((n): GraphNode[] => {
    if (gone.has(n.name)) return [];
    const k = n.op === 'Const' ? byKernel.get(n.name) : undefined;
    if (k) return [constNode(k.a), constNode(k.b)];
    const s = byNode.get(n.name);
    return s ? splitNode(s) : [n];
  });
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const { spec, stored } of storedWeights(model)) {
    const s = byKernel.get(spec.name);
    if (!s) {
      specs.push(spec);
      chunks.push(stored);
      continue;
    }
    for (const { values, ...f } of [s.a, s.b]) {
      specs.push(f);
      chunks.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }
  return {
    ...model,
    json: { ...model.json, modelTopology: { ...topology, node } },
    weightSpecs: specs,
    weightData: concatBytes(chunks),
  };
}

/** The node's two replacements: the plain first factor, then the node itself on it with the second factor. */
function splitNode(s: Split): [GraphNode, GraphNode] {
  const { node } = s;
  const attr = node.attr ?? {};
  const inputs = node.input ?? [];
  const first = `${node.name}_lr1`;
  const conv = FACTORED[node.op] === 'Conv2D';
  const pick = (keys: string[]) =>
    Object.fromEntries(keys.flatMap((k) => (attr[k] === undefined ? [] : [[k, attr[k]]])));
  const head: GraphNode = conv
    ? {
        name: first,
        op: 'Conv2D',
        input: [inputs[0]!, s.a.name],
        attr: pick(['T', 'data_format', 'dilations', 'explicit_paddings', 'padding', 'strides', 'use_cudnn_on_gpu']),
      }
    : {
        name: first,
        op: 'MatMul',
        input: [inputs[0]!, s.a.name],
        attr: { ...pick(['T', 'transpose_a']), transpose_b: { b: false } },
      };
  const tail: GraphNode = {
    ...node,
    input: [first, s.b.name, ...inputs.slice(2)],
    attr: conv
      ? {
          ...attr,
          strides: ints([1, 1, 1, 1]),
          dilations: ints([1, 1, 1, 1]),
          padding: { s: btoa('VALID') },
          explicit_paddings: { list: {} },
        }
      : { ...attr, transpose_a: { b: false }, transpose_b: { b: false } },
  };
  return [head, tail];
}
