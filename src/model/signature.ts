/**
 * What a model takes and gives, read from model.json alone (no TF.js): its inputs and outputs with shapes and
 * dtypes, and whether TF.js must run it with executeAsync. Planning checks the data against it before anything
 * runs, and the evaluator feeds and reads the model by it.
 *
 * Layers models: the input layers' declared shapes and dtypes, the output layers' inferred shapes. Graph models
 * (the converter's format): the `signature` the converter writes, else the Placeholder nodes as inputs and, as
 * TF.js does, every node nothing reads as outputs.
 */
import type { Shape } from './dims.js';
import { modelKind, type StoredModel } from './format.js';
import { declaredInputShape, obj } from './keras-json.js';
import { Topology } from './topology.js';

/** TF.js's tensor dtypes. */
export type TensorDtype = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

export interface TensorSpec {
  /** The layer's name (layers models), the signature key or node name (graph models). */
  name: string;
  /** Batch first, null where open; undefined when it cannot be read. */
  shape?: Shape;
  /** The dtype TF.js feeds or returns (a graph's DT_UINT8 input is an int32 tensor in TF.js). */
  dtype: TensorDtype;
  /** The dtype the model declares, when TF.js maps it to another (DT_UINT8, DT_INT64, DT_HALF…). */
  declared?: string;
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Graph models with control flow or dynamic-shape ops: TF.js runs them with executeAsync only. */
  async: boolean;
}

/** TF.js's lists (tfjs-converter's model analysis): a graph with any of these ops needs executeAsync. */
const ASYNC_OPS = new Set([
  'Switch',
  'Merge',
  'Enter',
  'Exit',
  'NextIteration',
  'StatelessIf',
  'StatelessWhile',
  'If',
  'if',
  'While',
  'NonMaxSuppressionV2',
  'NonMaxSuppressionV3',
  'NonMaxSuppressionV4',
  'NonMaxSuppressionV5',
  'Where',
]);

export function modelSignature(json: StoredModel['json']): ModelSignature {
  return modelKind(json) === 'graph' ? graphSignature(json) : layersSignature(json);
}

/** The width of one sample of an output (the product of its non-batch dimensions), or undefined when open. */
export function sampleSize(spec: Pick<TensorSpec, 'shape'>): number | undefined {
  if (!spec.shape) return undefined;
  let n = 1;
  for (const d of spec.shape.slice(1)) {
    if (d === null || d < 0) return undefined;
    n *= d;
  }
  return n;
}

function layersSignature(json: StoredModel['json']): ModelSignature {
  const topology = Topology.tryFromModel(json);
  if (!topology) return { inputs: [], outputs: [], async: false };
  const inputs = topology.kind === 'sequential' ? [topology.names()[0]!] : topology.inputs();
  const spec = (name: string, shape: () => Shape | undefined): TensorSpec => {
    let s: Shape | undefined;
    try {
      s = shape();
    } catch {
      s = undefined;
    }
    return { name, ...(s ? { shape: s } : {}), dtype: layerDtype(topology.config(name)) };
  };
  return {
    inputs: inputs.map((name) =>
      spec(name, () => declaredInputShape(topology.config(name)) ?? topology.modelInputShape()),
    ),
    outputs: topology.outputs().map((name) => ({ ...spec(name, () => topology.outputShape(name)), dtype: 'float32' })),
    async: false,
  };
}

/** An input layer's dtype as TF.js feeds it (float32 unless the config says int32 or bool). */
function layerDtype(config: Readonly<Record<string, unknown>>): TensorDtype {
  const d = config.dtype;
  const name = typeof d === 'string' ? d : typeof obj(d)?.config === 'object' ? obj(obj(d)!.config)?.name : undefined;
  return name === 'int32' || name === 'bool' ? name : 'float32';
}

interface GraphNode {
  name?: unknown;
  op?: unknown;
  input?: unknown;
  attr?: Record<string, { type?: unknown; shape?: unknown } | undefined>;
}
interface TensorInfo {
  name?: unknown;
  dtype?: unknown;
  tensorShape?: unknown;
}

function graphSignature(json: StoredModel['json']): ModelSignature {
  const topology = obj(json.modelTopology) ?? {};
  const nodes = (Array.isArray(topology.node) ? topology.node : []) as GraphNode[];
  const functions = (obj(topology.library)?.function ?? []) as { nodeDef?: GraphNode[] }[];
  const async = [...nodes, ...functions.flatMap((f) => f.nodeDef ?? [])].some(
    (n) => typeof n.op === 'string' && ASYNC_OPS.has(n.op),
  );
  const signature = obj(json.signature) ?? obj(json.userDefinedMetadata)?.signature;
  const declared = (entries: unknown): TensorSpec[] =>
    Object.entries(obj(entries) ?? {}).map(([key, info]) => tensorOf(key, info as TensorInfo));
  const sigInputs = declared(obj(signature)?.inputs);
  const sigOutputs = declared(obj(signature)?.outputs);
  const inputs = sigInputs.length
    ? sigInputs
    : nodes
        .filter((n) => n.op === 'Placeholder' && typeof n.name === 'string')
        .map((n) => tensorOf(String(n.name), { dtype: n.attr?.dtype?.type, tensorShape: obj(n.attr?.shape)?.shape }));
  // Without a signature TF.js takes every node nothing reads as an output.
  const read = new Set(
    nodes.flatMap((n) =>
      (Array.isArray(n.input) ? (n.input as string[]) : []).map((i) => i.replace(/^\^/, '').split(':')[0]),
    ),
  );
  const outputs = sigOutputs.length
    ? sigOutputs
    : nodes
        .filter((n) => typeof n.name === 'string' && !read.has(n.name))
        .map((n): TensorSpec => ({ name: String(n.name), dtype: 'float32' }));
  return { inputs, outputs, async };
}

const DTYPES: Readonly<Record<string, TensorDtype>> = {
  DT_FLOAT: 'float32',
  DT_HALF: 'float32',
  DT_DOUBLE: 'float32',
  DT_INT32: 'int32',
  DT_INT64: 'int32',
  DT_INT8: 'int32',
  DT_UINT8: 'int32',
  DT_INT16: 'int32',
  DT_UINT16: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
};

function tensorOf(name: string, info: TensorInfo): TensorSpec {
  const declared = typeof info.dtype === 'string' ? info.dtype : 'DT_FLOAT';
  const dtype = DTYPES[declared] ?? 'float32';
  const dims = obj(info.tensorShape)?.dim;
  const shape = Array.isArray(dims)
    ? (dims as { size?: unknown }[]).map((d) => {
        const n = Number(d?.size ?? -1);
        return Number.isFinite(n) && n >= 0 ? n : null;
      })
    : undefined;
  return {
    name: name.replace(/:0$/, ''),
    ...(shape ? { shape } : {}),
    dtype,
    ...(declared !== 'DT_FLOAT' && declared !== `DT_${dtype.toUpperCase()}` ? { declared } : {}),
  };
}
