/**
 * fold-batchnorm on a graph model: a FusedBatchNorm (V2, V3) that survived freezing, reading the output of a
 * Conv2D, DepthwiseConv2dNative or MatMul node (directly, through the BiasAdd after it, or a fused op whose only
 * fused op is BiasAdd), is folded into that node's filter and bias: W' = W·s, b' = s·(b − mean) + beta with
 * s = gamma / sqrt(variance + epsilon). The batch-norm node keeps its name, so the nodes reading it stay as they
 * are: it becomes an Identity of the producer (which had a bias), or a BiasAdd holding b' (which had none), and
 * the batch norm's other constants leave the topology and the manifest. Weights it does not touch keep their
 * stored bytes.
 */
import {
  decodeWeights,
  fusedOps,
  inputNode,
  paramCount,
  readGraph,
  stringAttr,
  type GraphNode,
  type GraphView,
  type GraphWeight,
  type StoredModel,
  type WeightSpec,
} from '../../model/index.js';
import { concatBytes, storedWeights } from '../../model/index.js';
import { SKIPPED_BY_OVERRIDE, type LayerOptions } from '../define.js';
import type { FoldedBatchNorm, SkippedBatchNorm } from './stats.js';

const BATCH_NORMS = new Set(['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']);
const KERNEL_OPS: Readonly<Record<string, 'Conv2D' | 'DepthwiseConv2D' | 'Dense'>> = {
  Conv2D: 'Conv2D',
  _FusedConv2D: 'Conv2D',
  DepthwiseConv2dNative: 'DepthwiseConv2D',
  FusedDepthwiseConv2dNative: 'DepthwiseConv2D',
  MatMul: 'Dense',
  _FusedMatMul: 'Dense',
};

interface Fold {
  bn: GraphNode;
  producer: GraphNode;
  kernel: GraphWeight;
  /** The bias constant the producer already adds (its BiasAdd's or its fused arg), if any. */
  bias?: string;
  /** The node the batch norm reads: the producer, or its BiasAdd. */
  reads: string;
  params: { gamma: string; beta: string; mean: string; variance: string };
}

export function foldGraphBatchNorms(
  model: StoredModel,
  graph: GraphView,
  layerOptions: LayerOptions<unknown>,
): { model: StoredModel; stats: Record<string, unknown> } {
  const layersBefore = graph.layers.length;
  const paramsBefore = paramCount(model);
  const folded: FoldedBatchNorm[] = [];
  const skipped: SkippedBatchNorm[] = [];
  const readers = new Map<string, string[]>();
  for (const n of graph.nodes)
    for (const input of n.input ?? []) {
      const from = input.startsWith('^') ? input.slice(1) : input;
      readers.set(from, [...(readers.get(from) ?? []), n.name]);
    }
  const folds: Fold[] = [];
  for (const layer of graph.layers) {
    if (!BATCH_NORMS.has(layer.op)) continue;
    const bn = graph.node(layer.name)!;
    const found = foldOf(bn, graph, readers);
    if (typeof found === 'string') {
      skipped.push({ layer: bn.name, reason: found });
      continue;
    }
    if (layerOptions(bn.name) === null || layerOptions(found.producer.name) === null) {
      skipped.push({ layer: bn.name, reason: SKIPPED_BY_OVERRIDE });
      continue;
    }
    folds.push(found);
  }
  const base = { layersBefore, batchNormsSkipped: skipped.length, skipped, paramsBefore };
  if (folds.length === 0)
    return {
      model,
      stats: {
        ...base,
        layersAfter: layersBefore,
        batchNormsFolded: 0,
        folded,
        paramsAfter: paramsBefore,
        ...(skipped.length ? {} : { note: 'the graph has no FusedBatchNorm nodes: nothing to fold' }),
      },
    };

  const values = new Map(decodeWeights(model).map((w) => [w.spec.name, w]));
  const floats = (name: string): Float32Array => {
    const v = values.get(name)?.values;
    if (!(v instanceof Float32Array)) throw new Error(`fold-batchnorm: ${name} is not a float weight`);
    return v;
  };
  const changed = new Map<string, Float32Array>();
  const removed = new Set<string>();
  const replaced = new Map<string, GraphNode>();
  for (const f of folds) {
    const { gamma, beta, mean, variance } = f.params;
    const g = floats(gamma);
    const v = floats(variance);
    const m = floats(mean);
    const b0 = floats(beta);
    const epsilon = (f.bn.attr?.epsilon as { f?: number } | undefined)?.f ?? 1e-4;
    const channels = g.length;
    const scale = Float64Array.from(g, (x, c) => x / Math.sqrt(v[c]! + epsilon));
    const kernel = floats(f.kernel.weight);
    const shape = values.get(f.kernel.weight)!.spec.shape;
    // The output channel of flat element i: i mod C for [.., in, out] and depthwise [kh, kw, in, m] (channel
    // in·m + m'), ⌊i / in⌋ for a MatMul operand stored [out, in].
    const transposed = (f.kernel.role.inputAxis ?? -2) > f.kernel.role.outputAxis;
    const inner = transposed ? shape[shape.length - 1]! : 1;
    const k = new Float32Array(kernel.length);
    for (let i = 0; i < k.length; i++) k[i] = kernel[i]! * scale[Math.floor(i / inner) % channels]!;
    changed.set(f.kernel.weight, k);
    const old = f.bias === undefined ? undefined : floats(f.bias);
    const b = Float32Array.from({ length: channels }, (_, c) => scale[c]! * ((old?.[c] ?? 0) - m[c]!) + b0[c]!);
    // The producer's own bias takes b'; without one, the batch norm's beta constant does, read by a BiasAdd.
    changed.set(f.bias ?? beta, b);
    for (const w of [gamma, mean, variance, ...(f.bias === undefined ? [] : [beta])]) removed.add(w);
    const T = f.bn.attr?.T ?? { type: 'DT_FLOAT' };
    replaced.set(
      f.bn.name,
      f.bias === undefined
        ? {
            name: f.bn.name,
            op: 'BiasAdd',
            input: [f.reads, beta],
            attr: { T, data_format: f.bn.attr?.data_format ?? { s: btoa('NHWC') } },
          }
        : { name: f.bn.name, op: 'Identity', input: [f.reads], attr: { T } },
    );
    folded.push({
      batchNorm: f.bn.name,
      into: f.producer.name,
      className: KERNEL_OPS[f.producer.op]!,
      addedBias: f.bias === undefined,
    });
  }

  const topology = model.json.modelTopology as { node: GraphNode[] };
  const node = topology.node
    .filter((n) => !(n.op === 'Const' && removed.has(n.name)))
    .map((n) => replaced.get(n.name) ?? n);
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const { spec, stored } of storedWeights(model)) {
    if (removed.has(spec.name)) continue;
    const v = changed.get(spec.name);
    if (v === undefined) {
      specs.push(spec);
      chunks.push(stored);
      continue;
    }
    const { quantization: _q, ...plain } = spec;
    specs.push({ ...plain, dtype: 'float32' });
    chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  const out: StoredModel = {
    ...model,
    json: { ...model.json, modelTopology: { ...topology, node } },
    weightSpecs: specs,
    weightData: concatBytes(chunks),
  };
  return {
    model: out,
    stats: {
      ...base,
      layersAfter: readGraph(out.json)?.layers.length ?? layersBefore,
      batchNormsFolded: folded.length,
      folded,
      paramsAfter: paramCount(out),
    },
  };
}

/** What folding this batch norm takes, or why it cannot be folded. */
function foldOf(bn: GraphNode, graph: GraphView, readers: ReadonlyMap<string, string[]>): Fold | string {
  if ((bn.attr?.is_training as { b?: unknown } | undefined)?.b === true) return 'it is in training mode';
  const format = stringAttr((bn.attr?.data_format as { s?: unknown } | undefined)?.s);
  if (format !== undefined && format !== 'NHWC') return `its data format is ${format}, not NHWC`;
  const own = graph.layers.find((l) => l.name === bn.name)!;
  const param = (key: string) => own.weights.find((w) => w.role.key === key)?.weight;
  const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map(param);
  if (!gamma || !beta || !mean || !variance) return 'its scale, offset, mean and variance are not all constants';
  // Its other outputs (batch statistics) are for training; a graph reading them cannot lose the node.
  for (const [from, by] of readers)
    if (from.startsWith(`${bn.name}:`) && from !== `${bn.name}:0`) return `${by[0]} reads its output ${from}`;
  const reads = inputNode(bn.input?.[0] ?? '') ?? '';
  let producer = graph.node(reads);
  const biasOf = (name: string) =>
    graph.layers.find((l) => l.name === name)?.weights.find((w) => w.role.key === 'bias')?.weight;
  let bias: string | undefined;
  if (producer?.op === 'BiasAdd') {
    const into = inputNode(producer.input?.[0] ?? '') ?? '';
    // The graph reader gives a BiasAdd's constant to the kernel node it adds to.
    bias = biasOf(into);
    if (bias === undefined) return `${producer.name} adds a bias that is not a constant of ${into}`;
    if (onlyRead(into, readers) !== producer.name) return `${into}'s output is also read by other nodes`;
    producer = graph.node(into);
  }
  if (!producer || KERNEL_OPS[producer.op] === undefined)
    return `it follows ${reads} (${producer?.op ?? 'unknown'}), not a Conv2D, DepthwiseConv2dNative or MatMul node`;
  if (onlyRead(reads, readers) !== bn.name) return `${reads}'s output is also read by other nodes`;
  const fused = fusedOps(producer);
  if (fused.length > 0) {
    if (fused.length > 1 || fused[0] !== 'BiasAdd')
      return `${producer.name} applies ${fused.slice(1).join(', ') || fused[0]} before it`;
    bias = biasOf(producer.name);
  }
  const kernel = graph.layers.find((l) => l.name === producer.name)?.weights.find((w) => w.role.compress !== undefined);
  if (!kernel) return `${producer.name} reads no constant filter`;
  // W·x with W constant: the batch norm's channels are x's columns, not W's.
  if (kernel.input !== 1) return `${producer.name}'s constant is the left operand of its product`;
  // A filter or bias several nodes read cannot be rescaled for one of them.
  for (const w of [kernel.weight, ...(bias ? [bias] : [])])
    if ((readers.get(w) ?? []).length > 1) return `its producer's constant ${w} is also read by other nodes`;
  return { bn, producer, kernel, ...(bias ? { bias } : {}), reads, params: { gamma, beta, mean, variance } };
}

/** The one node reading `name`'s output, or undefined when none or several do. */
function onlyRead(name: string, readers: ReadonlyMap<string, string[]>): string | undefined {
  const by = [...(readers.get(name) ?? []), ...(readers.get(`${name}:0`) ?? [])];
  return by.length === 1 ? by[0] : undefined;
}
