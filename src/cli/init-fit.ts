/**
 * What `mcbuild init` reads from a model.json to write a recipe that fits it: the one input (shape, dtype) that
 * decides the data section, each output (name, width, whether it is a softmax) that decides the fidelity
 * limits, the model's format (which passes apply) and how the source stores its weights (what size ratio a
 * pass can reach). TF.js-free, from model.json and the manifest alone.
 */
import {
  modelKind,
  modelSignature,
  readGraph,
  sampleSize,
  Topology,
  type TensorSpec,
  type WeightSpec,
} from '../model/index.js';

export type InitData = 'mnist' | 'images' | 'npy';

export interface InitOutput {
  name: string;
  /** Values per sample; undefined when the model leaves a dimension open. */
  width?: number;
  /** A softmax output (read from the topology): its rows are class distributions, so agreement means something. */
  softmax: boolean;
}

export interface InitFit {
  format: 'layers' | 'graph';
  /** The model's inputs; the recipe feeds the first (mcbuild feeds one, refused at planning otherwise). */
  inputs: TensorSpec[];
  outputs: InitOutput[];
  data: InitData;
  /** For image data: [height, width] when the model fixes them, and the channels. */
  image?: { size?: [number, number]; channels: 1 | 3 };
  /** How the source stores its float weights: all float32, or some already in fewer bits. */
  stored: 'float32' | 'float16' | '8-bit';
}

/** Inputs mnist fits ([28, 28, 1] images, or 784 values), given the shape with its batch dimension. */
export function mnistFits(shape: readonly (number | null)[]): boolean | undefined {
  const s = shape.slice(1);
  if (s.some((d) => d === null)) return undefined;
  const key = s.join(',');
  return key === '28,28,1' || key === '28,28' || key === '784';
}

export function fitModel(json: Record<string, unknown>, weightSpecs: readonly WeightSpec[]): InitFit {
  const format = modelKind(json) === 'graph' ? 'graph' : 'layers';
  let signature = modelSignature(json);
  if (format === 'layers' && signature.inputs.length === 0) signature = { ...signature, ...declaredIo(json) };
  const softmax = softmaxOutputs(json, format);
  const outputs = signature.outputs.map((o): InitOutput => {
    const width = sampleSize(o);
    return { name: o.name, ...(width === undefined ? {} : { width }), softmax: softmax.has(o.name) };
  });
  const input = signature.inputs[0];
  const dims = input?.shape?.slice(1);
  let data: InitData = 'npy';
  let image: InitFit['image'];
  if (input?.dtype === 'float32' && input.shape && mnistFits(input.shape) && isMnistClassifier(outputs)) {
    data = 'mnist';
  } else if (input?.dtype === 'float32' && dims?.length === 3 && (dims[2] === 1 || dims[2] === 3)) {
    data = 'images';
    const [h, w] = dims;
    image = { ...(typeof h === 'number' && typeof w === 'number' ? { size: [h, w] } : {}), channels: dims[2] };
  }
  return { format, inputs: signature.inputs, outputs, data, ...(image ? { image } : {}), stored: storage(weightSpecs) };
}

/**
 * A layers model's inputs and outputs as its config declares them, for a topology the structural reader cannot
 * follow (shared layers): input layers with their shapes and dtypes, output layers with a Dense layer's width.
 */
function declaredIo(json: Record<string, unknown>): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const o = (v: unknown) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const topology = o(json.modelTopology);
  const config = o(o(topology.model_config).config ?? topology.config);
  const layers = new Map(
    (Array.isArray(config.layers) ? config.layers : []).map((l) => [String(o(l).name), o(o(l).config)] as const),
  );
  const names = (v: unknown) => (Array.isArray(v) ? v.map((e) => String(Array.isArray(e) ? e[0] : e)) : []);
  const dims = (v: unknown) =>
    Array.isArray(v) ? v.map((d) => (typeof d === 'number' && d >= 0 ? d : null)) : undefined;
  const inputs = names(config.input_layers).map((name): TensorSpec => {
    const c = layers.get(name) ?? {};
    const shape = dims(c.batch_input_shape ?? c.batch_shape);
    const dtype = c.dtype === 'int32' || c.dtype === 'bool' ? c.dtype : 'float32';
    return { name, ...(shape ? { shape } : {}), dtype };
  });
  const outputs = names(config.output_layers).map((name): TensorSpec => {
    const units = layers.get(name)?.units;
    return { name, ...(typeof units === 'number' ? { shape: [null, units] } : {}), dtype: 'float32' };
  });
  return { inputs, outputs };
}

/** Softmax output layers as the config declares them (./declaredIo's case). */
function declaredSoftmax(json: Record<string, unknown>): Set<string> {
  const o = (v: unknown) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const topology = o(json.modelTopology);
  const config = o(o(topology.model_config).config ?? topology.config);
  const out = new Set<string>();
  for (const l of Array.isArray(config.layers) ? config.layers : []) {
    const layer = o(l);
    if (o(layer.config).activation === 'softmax' || layer.class_name === 'Softmax') out.add(String(layer.name));
  }
  return out;
}

/** One output of 10 classes: what a model trained on mnist gives (others get label-free data). */
function isMnistClassifier(outputs: readonly InitOutput[]): boolean {
  return outputs.length === 1 && outputs[0]!.width === 10;
}

/** The fewest bits the source stores a float weight in: what a quantize pass can still win. */
function storage(specs: readonly WeightSpec[]): InitFit['stored'] {
  const floats = specs.filter((s) => s.dtype === 'float32');
  if (floats.some((s) => s.quantization && s.quantization.dtype !== 'float16' && s.quantization.dtype !== 'bfloat16'))
    return '8-bit';
  return floats.some((s) => s.quantization) ? 'float16' : 'float32';
}

/**
 * Outputs a softmax makes, read from the topology: a layers model's output layer with `activation: softmax` or
 * of class Softmax; a graph model's output node that is (through Identity nodes) a Softmax op.
 */
function softmaxOutputs(json: Record<string, unknown>, format: 'layers' | 'graph'): Set<string> {
  const out = new Set<string>();
  if (format === 'layers') {
    const topology = Topology.tryFromModel(json);
    if (!topology) return declaredSoftmax(json);
    const classes = new Map(topology.layers().map((l) => [l.name, l.className]));
    for (const name of topology.outputs()) {
      let activation: unknown;
      try {
        activation = topology.config(name).activation;
      } catch {
        continue; // a layer the reader cannot resolve: not known to be a softmax
      }
      if (activation === 'softmax' || classes.get(name) === 'Softmax') out.add(name);
    }
    return out;
  }
  const graph = readGraph(json);
  if (!graph) return out;
  const sig = (json.signature ?? (json.userDefinedMetadata as Record<string, unknown> | undefined)?.signature) as
    { outputs?: Record<string, { name?: unknown }> } | undefined;
  const named = sig?.outputs
    ? Object.entries(sig.outputs).map(([key, t]) => [key, typeof t?.name === 'string' ? t.name : key] as const)
    : graph.nodes.map((n) => [n.name, n.name] as const);
  for (const [key, tensor] of named) {
    let node = graph.node(tensor.split(':')[0]!);
    for (let hops = 0; node && node.op === 'Identity' && hops < 8; hops++)
      node = graph.node((node.input?.[0] ?? '').replace(/^\^/, '').split(':')[0]!);
    if (node?.op === 'Softmax') out.add(key.replace(/:0$/, ''));
  }
  return out;
}
