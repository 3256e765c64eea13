/**
 * The Keras topology of a TF.js layers model (`json.modelTopology`), read and rewritten as plain JSON: the
 * one place structural passes (fold-batchnorm, lowrank, prune-channels) and the FLOPs counter learn what a
 * layer is, what feeds it, what it feeds and what shape it outputs. No TF.js: a pass that only rewires
 * layers and rewrites weights stays engine-free, and its output is checked against the weights before it
 * leaves (rebuildModel), so a rewiring mistake fails here with the layer's name rather than inside
 * tf.loadLayersModel.
 *
 * Formats read: `Sequential` (config `{ name, layers }`, or the older bare list) and `Model` / `Functional`
 * (config `{ layers, input_layers, output_layers }`, each layer with `inbound_nodes` in the Keras 2 /
 * TF.js form `[[["name", nodeIndex, tensorIndex, kwargs], …]]`). A layer called more than once (a shared
 * layer) or a model nested as a layer is refused: every structural pass needs one node per layer.
 *
 * Weights are matched to layers by name, `<layer>/<weight>` (TF.js's `originalName`, the manifest name):
 * WeightTable keeps them in manifest order while layers lose, gain or rename weights.
 */
import { McbError } from '../errors.js';
import { elementCount, modelKind, type StoredModel, type WeightSpec } from './model-format.js';
import { encodeWeights, type DecodedWeight } from './weights.js';

/** A dimension: null where the model leaves it open (always the batch). */
export type Dim = number | null;
/** An output shape, batch first: [null, 14, 14, 32]. */
export type Shape = Dim[];

/** A layer to insert: its Keras class and config; `config.name` names it and must be unique. */
export interface LayerSpec {
  class_name: string;
  config: Record<string, unknown>;
}

/** One layer as the passes see it. */
export interface LayerInfo {
  name: string;
  className: string;
  /** The layer's config (a copy: change it with setConfig / updateConfig). */
  config: Record<string, unknown>;
  /** Names of the layers whose outputs feed this one, in call order; [] for the model input. */
  inbound: string[];
  /** Position in the topology's layer list. */
  index: number;
}

/** Refuses a model the topology cannot read or an edit it cannot make; exit 2 like any bad model. */
export class TopologyError extends McbError {
  constructor(message: string) {
    super('MCB_MODEL_INVALID', message);
    this.name = 'TopologyError';
  }
}

/** Keras's per-layer JSON as stored: `name` and `inbound_nodes` only in functional models. */
interface RawLayer {
  class_name: string;
  config: Record<string, unknown>;
  name?: string;
  inbound_nodes?: unknown[];
}

/** A functional reference: [layer, nodeIndex, tensorIndex, kwargs?]. */
type Ref = [string, number, number, ...unknown[]];

/** Layers whose output has their (only) input's shape. */
const SAME_SHAPE = new Set([
  'BatchNormalization',
  'LayerNormalization',
  'ReLU',
  'LeakyReLU',
  'PReLU',
  'ELU',
  'ThresholdedReLU',
  'Softmax',
  'Activation',
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'AlphaDropout',
  'GaussianDropout',
  'GaussianNoise',
  'Masking',
]);
/** Element-wise merges: the broadcast of their inputs' shapes. */
export const MERGE = new Set(['Add', 'Multiply', 'Subtract', 'Average', 'Maximum', 'Minimum']);
/** Classes known to hold no weights, so weightProblems can say "this layer should have none". */
const WEIGHTLESS = new Set([
  ...[...SAME_SHAPE].filter((c) => c !== 'BatchNormalization' && c !== 'LayerNormalization' && c !== 'PReLU'),
  ...MERGE,
  'InputLayer',
  'Flatten',
  'Reshape',
  'ZeroPadding2D',
  'Concatenate',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
]);

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const clone = <T>(v: T): T => structuredClone(v);

export class Topology {
  /** The whole modelTopology (keras_version, backend, …), a private deep copy. */
  private readonly root: Record<string, unknown>;
  /** The object whose `class_name`/`config` describe the model: modelTopology itself or its `model_config`. */
  private readonly model: Record<string, unknown>;
  private list: RawLayer[];
  readonly kind: 'sequential' | 'functional';
  private shapeCache: Map<string, Shape | Error> | undefined;

  private constructor(root: Record<string, unknown>) {
    this.root = root;
    this.model = obj(root.model_config) ?? root;
    const cls = this.model.class_name;
    const config = this.model.config;
    if (cls === 'Sequential') {
      this.kind = 'sequential';
      // Keras < 2.2.3 stored a Sequential's config as the bare layer list.
      const layers = Array.isArray(config) ? config : obj(config)?.layers;
      if (!Array.isArray(layers))
        throw new TopologyError(
          'the Sequential model in model.json has no `config.layers` list. Save the model again with TF.js `model.save()`.',
        );
      this.list = layers as RawLayer[];
      if (Array.isArray(config)) this.model.config = { name: 'sequential', layers: this.list };
    } else if (cls === 'Model' || cls === 'Functional') {
      this.kind = 'functional';
      const layers = obj(config)?.layers;
      if (!Array.isArray(layers))
        throw new TopologyError(
          `the ${cls} model in model.json has no \`config.layers\` list. Save the model again with TF.js \`model.save()\`.`,
        );
      this.list = layers as RawLayer[];
    } else {
      throw new TopologyError(
        `model.json's topology is a ${typeof cls === 'string' ? cls : 'model of unknown class'}; mcbuild reads Sequential and functional (Model / Functional) layers models.`,
      );
    }
    const seen = new Set<string>();
    for (const [i, l] of this.list.entries()) {
      const name = obj(l?.config)?.name;
      if (typeof l?.class_name !== 'string' || typeof name !== 'string')
        throw new TopologyError(
          `layer ${i} of model.json's topology has no class_name and config.name. Save the model again with TF.js \`model.save()\`.`,
        );
      if (seen.has(name))
        throw new TopologyError(
          `model.json's topology has two layers named ${JSON.stringify(name)}; layer names must be unique.`,
        );
      seen.add(name);
      if (l.class_name === 'Sequential' || l.class_name === 'Model' || l.class_name === 'Functional') {
        throw new TopologyError(
          `layer ${JSON.stringify(name)} is a nested ${l.class_name} model; structural passes and FLOPs counting need a flat model. Flatten it before exporting (build one model from its layers).`,
        );
      }
      if (this.kind === 'functional') {
        const nodes = l.inbound_nodes ?? [];
        if (!Array.isArray(nodes) || nodes.length > 1) {
          throw new TopologyError(
            `layer ${JSON.stringify(name)} is called ${Array.isArray(nodes) ? nodes.length : '?'} times (a shared layer); structural passes need each layer applied once.`,
          );
        }
        if (nodes.length === 1 && !(Array.isArray(nodes[0]) && (nodes[0] as unknown[]).every(isRef))) {
          throw new TopologyError(
            `layer ${JSON.stringify(name)} has inbound_nodes in a format mcbuild does not read (expected [[["layer", 0, 0, {}], …]], as TF.js and Keras 2 write).`,
          );
        }
        if (nodes.length === 0 && l.class_name !== 'InputLayer')
          throw new TopologyError(
            `layer ${JSON.stringify(name)} has no inbound node: it is not connected to the model.`,
          );
      }
    }
  }

  /** Reads a layers model's topology (a deep copy: edits never touch `json`). Throws TopologyError for a graph model. */
  static fromModel(json: StoredModel['json']): Topology {
    if (modelKind(json) !== 'layers')
      throw new TopologyError(
        'this is a graph model (model.json with format "graph-model"); structural passes and FLOPs counting need a layers model.',
      );
    const t = obj(json.modelTopology);
    if (!t) throw new TopologyError('model.json has no `modelTopology` object.');
    return new Topology(clone(t));
  }

  /** fromModel, or undefined for a model whose topology cannot be read (a graph model, shared layers…). */
  static tryFromModel(json: StoredModel['json']): Topology | undefined {
    try {
      return Topology.fromModel(json);
    } catch (e) {
      if (e instanceof TopologyError) return undefined;
      throw e;
    }
  }

  /** An independent copy, to try an edit and drop it. */
  clone(): Topology {
    return new Topology(clone(this.root));
  }

  // ---------------------------------------------------------------- reading

  /** Every layer in stored order (Keras stores functional layers in a topological order). */
  layers(): LayerInfo[] {
    return this.list.map((_, i) => this.info(i));
  }

  names(): string[] {
    return this.list.map((l) => l.config.name as string);
  }

  has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  layer(name: string): LayerInfo {
    return this.info(this.mustIndex(name));
  }

  className(name: string): string {
    return this.list[this.mustIndex(name)]!.class_name;
  }

  /** The layer's config, read-only (a live view: do not mutate; use updateConfig). */
  config(name: string): Readonly<Record<string, unknown>> {
    return this.list[this.mustIndex(name)]!.config;
  }

  /** Names of the layers feeding `name`, in call order ([] for an InputLayer and a Sequential's first layer). */
  inbound(name: string): string[] {
    const i = this.mustIndex(name);
    if (this.kind === 'sequential')
      return i === 0 || this.list[i]!.class_name === 'InputLayer' ? [] : [this.list[i - 1]!.config.name as string];
    return this.refsOf(this.list[i]!).map((r) => r[0]);
  }

  /** Names of the layers that read `name`'s output, in layer order, each once. */
  consumers(name: string): string[] {
    const i = this.mustIndex(name);
    if (this.kind === 'sequential') return i + 1 < this.list.length ? [this.list[i + 1]!.config.name as string] : [];
    return this.list.filter((l) => this.refsOf(l).some((r) => r[0] === name)).map((l) => l.config.name as string);
  }

  /** Names of the model's output layers. */
  outputs(): string[] {
    if (this.kind === 'sequential') return this.list.length ? [this.list.at(-1)!.config.name as string] : [];
    return this.outputRefs().map((r) => r[0]);
  }

  /** Names of the model's input layers (InputLayers); [] for a Sequential without one (its first layer takes the input). */
  inputs(): string[] {
    if (this.kind === 'sequential')
      return this.list[0]?.class_name === 'InputLayer' ? [this.list[0].config.name as string] : [];
    const refs = obj(this.model.config)?.input_layers;
    return Array.isArray(refs) ? refs.filter(isRef).map((r) => r[0]) : [];
  }

  isOutput(name: string): boolean {
    this.mustIndex(name);
    return this.outputs().includes(name);
  }

  // ---------------------------------------------------------------- editing

  /** Replaces a layer's config (its name cannot change here: use renameLayer). */
  setConfig(name: string, config: Record<string, unknown>): void {
    const l = this.list[this.mustIndex(name)]!;
    if (config.name !== undefined && config.name !== name)
      throw new TopologyError(`setConfig cannot rename layer ${JSON.stringify(name)}; use renameLayer.`);
    l.config = { ...clone(config), name };
    this.changed();
  }

  /** Merges `patch` into a layer's config (`{ use_bias: true }`); undefined values delete keys. */
  updateConfig(name: string, patch: Record<string, unknown>): void {
    const l = this.list[this.mustIndex(name)]!;
    const next: Record<string, unknown> = { ...l.config };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = clone(v);
    }
    this.setConfig(name, next);
  }

  /**
   * Removes a single-input layer and feeds its consumers (and the model outputs it was) from its input
   * instead: the layer disappears from the function. A Sequential's first layer hands its input shape on.
   */
  removeLayer(name: string): void {
    const i = this.mustIndex(name);
    const l = this.list[i]!;
    if (l.class_name === 'InputLayer')
      throw new TopologyError(`cannot remove ${JSON.stringify(name)}: it is the model's input.`);
    if (this.kind === 'sequential') {
      if (this.list.length === 1)
        throw new TopologyError(`cannot remove ${JSON.stringify(name)}: it is the model's only layer.`);
      const next = this.list[i + 1];
      if (next && next.class_name !== 'InputLayer') inheritInput(l, next);
      this.list.splice(i, 1);
    } else {
      const refs = this.refsOf(l);
      if (refs.length !== 1)
        throw new TopologyError(
          `cannot remove ${JSON.stringify(name)}: it has ${refs.length} inputs, and only a single-input layer can be bypassed.`,
        );
      const source = refs[0]!;
      this.redirect(name, source);
      this.list.splice(i, 1);
    }
    this.changed();
  }

  /**
   * Replaces layer `name` by a chain of new layers: the first takes its inputs, each next one the previous
   * one's output, and the last feeds its consumers (and is a model output where it was). The chain may
   * reuse `name` (keep the old name on the layer that carries its role, e.g. the second of two Dense).
   */
  replaceLayer(name: string, chain: readonly LayerSpec[]): void {
    const i = this.mustIndex(name);
    const old = this.list[i]!;
    if (chain.length === 0)
      throw new TopologyError(
        `replaceLayer(${JSON.stringify(name)}) needs at least one layer; use removeLayer to bypass a layer.`,
      );
    if (old.class_name === 'InputLayer')
      throw new TopologyError(`cannot replace ${JSON.stringify(name)}: it is the model's input.`);
    const names = chain.map((s, k) => {
      const n = s.config?.name;
      if (typeof s.class_name !== 'string' || typeof n !== 'string' || n === '')
        throw new TopologyError(
          `replaceLayer(${JSON.stringify(name)}): new layer ${k} needs a class_name and a config.name.`,
        );
      return n;
    });
    for (const [k, n] of names.entries()) {
      if (names.indexOf(n) !== k)
        throw new TopologyError(
          `replaceLayer(${JSON.stringify(name)}): two new layers are named ${JSON.stringify(n)}.`,
        );
      if (n !== name && this.has(n))
        throw new TopologyError(
          `replaceLayer(${JSON.stringify(name)}): a layer named ${JSON.stringify(n)} already exists.`,
        );
    }
    const fresh: RawLayer[] = chain.map((s) => ({ class_name: s.class_name, config: clone(s.config) }));
    if (this.kind === 'sequential') {
      inheritInput(old, fresh[0]!);
    } else {
      const last = names.at(-1)!;
      fresh.forEach((l, k) => {
        l.name = names[k]!;
        l.inbound_nodes = k === 0 ? clone(old.inbound_nodes ?? []) : [[[names[k - 1]!, 0, 0, {}]]];
      });
      if (last !== name) this.redirect(name, [last, 0, 0]);
    }
    this.list.splice(i, 1, ...fresh);
    this.changed();
  }

  /** Inserts a new single-input layer right after `name`, between it and its consumers. */
  insertAfter(name: string, spec: LayerSpec): void {
    const l = this.list[this.mustIndex(name)]!;
    // Keep the existing layer object (and name) as the chain's head, so nothing about it changes.
    this.replaceLayer(name, [{ class_name: l.class_name, config: l.config }, spec]);
  }

  /** Renames a layer everywhere it is referenced (rename its weights with WeightTable.renameLayer too). */
  renameLayer(from: string, to: string): void {
    const i = this.mustIndex(from);
    if (from === to) return;
    if (this.has(to))
      throw new TopologyError(`cannot rename ${JSON.stringify(from)} to ${JSON.stringify(to)}: that name is taken.`);
    const l = this.list[i]!;
    l.config = { ...l.config, name: to };
    if (this.kind === 'functional') {
      l.name = to;
      for (const other of this.list) for (const r of this.refsOf(other)) if (r[0] === from) r[0] = to;
      for (const key of ['input_layers', 'output_layers'] as const) {
        const refs = obj(this.model.config)?.[key];
        if (Array.isArray(refs)) for (const r of refs) if (isRef(r) && r[0] === from) r[0] = to;
      }
    }
    this.changed();
  }

  /** The edited modelTopology (a copy). */
  toJSON(): Record<string, unknown> {
    return clone(this.root);
  }

  /** `json` with this topology in place of its modelTopology (everything else, metadata included, kept). */
  toModelJson(json: StoredModel['json']): StoredModel['json'] {
    return { ...json, modelTopology: this.toJSON() };
  }

  // ---------------------------------------------------------------- shapes

  /** The model's input shape, batch first ([null, 28, 28, 1]). */
  modelInputShape(): Shape {
    const first =
      this.kind === 'sequential'
        ? this.list[0]
        : this.list.find((l) => l.class_name === 'InputLayer' && l.config.name === this.inputs()[0]);
    const shape = first && declaredInputShape(first.config);
    if (!shape)
      throw new TopologyError(
        "model.json does not declare the model's input shape (no batch_input_shape on the input layer).",
      );
    return shape;
  }

  /** Output shape of a layer, batch first. Throws TopologyError naming the layer when it cannot be inferred. */
  outputShape(name: string): Shape {
    this.mustIndex(name);
    const s = this.allShapes().get(name)!;
    if (s instanceof Error) throw s;
    return [...s];
  }

  /** Shapes of a layer's inputs (the model input for a Sequential's first layer). */
  inputShapes(name: string): Shape[] {
    const inbound = this.inbound(name);
    if (inbound.length === 0) {
      if (this.className(name) === 'InputLayer') return [];
      return [this.modelInputShape()];
    }
    return inbound.map((n) => this.outputShape(n));
  }

  /** The single input shape of a single-input layer. */
  inputShape(name: string): Shape {
    const shapes = this.inputShapes(name);
    if (shapes.length !== 1)
      throw new TopologyError(
        `layer ${JSON.stringify(name)} has ${shapes.length} inputs; inputShape() is for single-input layers (use inputShapes()).`,
      );
    return shapes[0]!;
  }

  /** Every layer's output shape, or undefined for layers whose shape cannot be inferred (unknown class). */
  shapes(): Map<string, Shape | undefined> {
    return new Map([...this.allShapes()].map(([n, s]) => [n, s instanceof Error ? undefined : [...s]]));
  }

  // ---------------------------------------------------------------- internals

  private info(i: number): LayerInfo {
    const l = this.list[i]!;
    const name = l.config.name as string;
    return { name, className: l.class_name, config: clone(l.config), inbound: this.inbound(name), index: i };
  }

  private indexOf(name: string): number {
    return this.list.findIndex((l) => l.config.name === name);
  }

  private mustIndex(name: string): number {
    const i = this.indexOf(name);
    if (i < 0) throw new TopologyError(`the model has no layer named ${JSON.stringify(name)}.`);
    return i;
  }

  private refsOf(l: RawLayer): Ref[] {
    const node = l.inbound_nodes?.[0];
    return Array.isArray(node) ? (node as Ref[]) : [];
  }

  private outputRefs(): Ref[] {
    const refs = obj(this.model.config)?.output_layers;
    return Array.isArray(refs) ? refs.filter(isRef) : [];
  }

  /** Every reference to layer `from` (in consumers and model outputs) now points at `to`'s tensor. */
  private redirect(from: string, to: Ref): void {
    for (const other of this.list) {
      const node = this.refsOf(other);
      node.forEach((r, k) => {
        if (r[0] === from) node[k] = [to[0], to[1], to[2], ...r.slice(3)] as Ref;
      });
    }
    const outs = obj(this.model.config)?.output_layers;
    if (Array.isArray(outs))
      outs.forEach((r, k) => {
        if (isRef(r) && r[0] === from) outs[k] = [to[0], to[1], to[2]];
      });
  }

  private changed(): void {
    this.shapeCache = undefined;
  }

  private allShapes(): Map<string, Shape | Error> {
    if (this.shapeCache) return this.shapeCache;
    const out = new Map<string, Shape | Error>();
    const visiting = new Set<string>();
    const compute = (name: string): Shape | Error => {
      const known = out.get(name);
      if (known) return known;
      if (visiting.has(name))
        return new TopologyError(`layer ${JSON.stringify(name)} is part of a cycle in model.json's topology.`);
      visiting.add(name);
      let result: Shape | Error;
      const l = this.list[this.mustIndex(name)]!;
      const inbound = this.inbound(name);
      let inputs: Shape[] | Error;
      if (inbound.length === 0) {
        const declared =
          l.class_name === 'InputLayer'
            ? undefined
            : (declaredInputShape(l.config) ?? safe(() => this.modelInputShape()));
        inputs = declared instanceof Error ? declared : declared ? [declared] : [];
      } else {
        const ins = inbound.map((n) =>
          this.has(n)
            ? compute(n)
            : new TopologyError(`layer ${JSON.stringify(name)} reads ${JSON.stringify(n)}, which is not in the model.`),
        );
        const bad = ins.find((s): s is Error => s instanceof Error);
        inputs = bad ?? (ins as Shape[]);
      }
      if (inputs instanceof Error) result = inputs;
      else result = safe(() => layerOutputShape(name, l.class_name, l.config, inputs as Shape[]));
      visiting.delete(name);
      out.set(name, result);
      return result;
    };
    for (const l of this.list) compute(l.config.name as string);
    this.shapeCache = out;
    return out;
  }
}

function isRef(r: unknown): r is Ref {
  return Array.isArray(r) && typeof r[0] === 'string' && typeof r[1] === 'number' && typeof r[2] === 'number';
}

function safe<T>(f: () => T): T | Error {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error) return e;
    throw e;
  }
}

/** A Sequential's input declaration (batch_input_shape, dtype) moves to the layer that now comes first. */
function inheritInput(from: RawLayer, to: RawLayer): void {
  for (const key of ['batch_input_shape', 'input_shape', 'dtype']) {
    if (from.config[key] !== undefined && to.config[key] === undefined) to.config[key] = clone(from.config[key]);
  }
}

function declaredInputShape(config: Record<string, unknown>): Shape | undefined {
  const b = config.batch_input_shape ?? config.batchInputShape;
  if (Array.isArray(b)) return b.map((d) => (typeof d === 'number' ? d : null));
  const s = config.input_shape ?? config.inputShape;
  if (Array.isArray(s)) return [null, ...s.map((d) => (typeof d === 'number' ? d : null))];
  return undefined;
}

/** An int or a list of ints in a Keras config, as a list of `n` ints (kernel_size: 3 → [3, 3]). */
export function tupleOf(v: unknown, n: number, what: string, layer: string): number[] {
  if (typeof v === 'number') return Array.from({ length: n }, () => v);
  if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number')) return v as number[];
  throw new TopologyError(
    `layer ${JSON.stringify(layer)} has ${what} ${JSON.stringify(v)}; expected a number or a list of ${n}.`,
  );
}

/** Output size of a window op along one axis (Keras conv_utils.conv_output_length); null stays null. */
export function windowOutput(size: Dim, kernel: number, stride: number, padding: string, dilation = 1): Dim {
  if (size === null) return null;
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'same') return Math.ceil(size / stride);
  if (padding === 'valid') return Math.max(0, Math.ceil((size - effective + 1) / stride));
  throw new TopologyError(`padding ${JSON.stringify(padding)} is not supported (same or valid).`);
}

function channelsLast(layer: string, cls: string, config: Record<string, unknown>): void {
  const f = config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last')
    throw new TopologyError(
      `layer ${JSON.stringify(layer)} (${cls}) uses data_format ${String(f)}; mcbuild reads channels_last models only.`,
    );
}

/** Keras's output shape of one layer from its input shapes. Exported for the tests and for passes that plan a new layer. */
export function layerOutputShape(
  name: string,
  cls: string,
  config: Record<string, unknown>,
  inputs: readonly Shape[],
): Shape {
  const one = (): Shape => {
    if (inputs.length !== 1)
      throw new TopologyError(`layer ${JSON.stringify(name)} (${cls}) has ${inputs.length} inputs; it takes one.`);
    return inputs[0]!;
  };
  const rank = (s: Shape, r: number): Shape => {
    if (s.length !== r)
      throw new TopologyError(
        `layer ${JSON.stringify(name)} (${cls}) gets an input of shape [${s.join(', ')}]; it takes rank ${r}.`,
      );
    return s;
  };
  switch (cls) {
    case 'InputLayer': {
      const s = declaredInputShape(config);
      if (!s) throw new TopologyError(`input layer ${JSON.stringify(name)} declares no batch_input_shape.`);
      return s;
    }
    case 'Dense': {
      const s = one();
      return [...s.slice(0, -1), config.units as number];
    }
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const k = tupleOf(config.kernel_size, 2, 'kernel_size', name);
      const st = tupleOf(config.strides ?? 1, 2, 'strides', name);
      const d = tupleOf(config.dilation_rate ?? 1, 2, 'dilation_rate', name);
      const padding = String(config.padding ?? 'valid');
      const out =
        cls === 'DepthwiseConv2D'
          ? c === null
            ? null
            : c! * ((config.depth_multiplier as number | undefined) ?? 1)
          : (config.filters as number);
      return [n!, windowOutput(h!, k[0]!, st[0]!, padding, d[0]), windowOutput(w!, k[1]!, st[1]!, padding, d[1]), out];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const p = tupleOf(config.pool_size ?? 2, 2, 'pool_size', name);
      const st = tupleOf(config.strides ?? p, 2, 'strides', name);
      const padding = String(config.padding ?? 'valid');
      return [n!, windowOutput(h!, p[0]!, st[0]!, padding), windowOutput(w!, p[1]!, st[1]!, padding), c!];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      channelsLast(name, cls, config);
      const [n, , , c] = rank(one(), 4);
      return config.keepdims === true ? [n!, 1, 1, c!] : [n!, c!];
    }
    case 'Flatten': {
      const [n, ...rest] = one();
      return [n!, rest.some((d) => d === null) ? null : rest.reduce<number>((a, b) => a * b!, 1)];
    }
    case 'Reshape': {
      const [n, ...rest] = one();
      const target = config.target_shape;
      if (!Array.isArray(target))
        throw new TopologyError(`layer ${JSON.stringify(name)} (Reshape) has no target_shape.`);
      const t = target.map(Number);
      const unknown = t.indexOf(-1);
      if (unknown >= 0) {
        const total = rest.some((d) => d === null) ? null : rest.reduce<number>((a, b) => a * b!, 1);
        const known = t.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        return [n!, ...t.map((d) => (d === -1 ? (total === null ? null : total / known) : d))];
      }
      return [n!, ...t];
    }
    case 'ZeroPadding2D': {
      channelsLast(name, cls, config);
      const [n, h, w, c] = rank(one(), 4);
      const p = config.padding ?? 1;
      const pads: [number, number][] =
        typeof p === 'number'
          ? [
              [p, p],
              [p, p],
            ]
          : Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number')
            ? [
                [p[0] as number, p[0] as number],
                [p[1] as number, p[1] as number],
              ]
            : Array.isArray(p) && p.length === 2 && p.every((x) => Array.isArray(x) && x.length === 2)
              ? (p as [number, number][])
              : (() => {
                  throw new TopologyError(
                    `layer ${JSON.stringify(name)} (ZeroPadding2D) has padding ${JSON.stringify(p)}.`,
                  );
                })();
      const add = (d: Dim, [a, b]: [number, number]) => (d === null ? null : d + a + b);
      return [n!, add(h!, pads[0]!), add(w!, pads[1]!), c!];
    }
    case 'Concatenate': {
      if (inputs.length < 2)
        throw new TopologyError(`layer ${JSON.stringify(name)} (Concatenate) needs at least two inputs.`);
      const r = inputs[0]!.length;
      const axis =
        ((config.axis as number | undefined) ?? -1) < 0
          ? r + ((config.axis as number | undefined) ?? -1)
          : (config.axis as number);
      const out = [...inputs[0]!];
      out[axis] = inputs.some((s) => s[axis] === null) ? null : inputs.reduce((a, s) => a + s[axis]!, 0);
      return out;
    }
    default:
      if (SAME_SHAPE.has(cls)) return [...one()];
      if (MERGE.has(cls)) return broadcast(name, cls, inputs);
      throw new TopologyError(
        `cannot infer the output shape of layer ${JSON.stringify(name)}: mcbuild does not know layer class ${cls}.`,
      );
  }
}

function broadcast(name: string, cls: string, inputs: readonly Shape[]): Shape {
  if (inputs.length < 1) throw new TopologyError(`layer ${JSON.stringify(name)} (${cls}) has no inputs.`);
  const r = Math.max(...inputs.map((s) => s.length));
  const out: Shape = [];
  for (let k = 0; k < r; k++) {
    let d: Dim = 1;
    for (const s of inputs) {
      const x = s[s.length - r + k];
      if (x === undefined || x === 1) continue;
      if (x === null) d = d === 1 ? null : d;
      else if (d === 1 || d === null) d = x;
      else if (d !== x)
        throw new TopologyError(
          `layer ${JSON.stringify(name)} (${cls}) gets inputs of shapes ${inputs.map((s) => `[${s.join(', ')}]`).join(' and ')}, which do not broadcast.`,
        );
    }
    out.push(d);
  }
  return out;
}

/**
 * The topology of the model a structural pass receives. A graph model, or a topology the class cannot read,
 * is the user's input to fix (exit 2), named for the pass; `why` says why the pass needs layers.
 */
export function passTopology(model: StoredModel, pass: string, where: string, why: string): Topology {
  if (modelKind(model.json) !== 'layers') {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${pass} needs a layers model${where}, but this is a graph model (format "graph-model"), ${why}. Remove the pass or start from a layers model.`,
    );
  }
  try {
    return Topology.fromModel(model.json);
  } catch (e) {
    if (e instanceof TopologyError)
      throw new McbError('MCB_MODEL_INVALID', `${pass} cannot read the model${where}: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------- weights

/** The layer part of a weight name: "conv_pw_1_bn/gamma" → "conv_pw_1_bn" (undefined without a "/"). */
export function weightLayer(weightName: string): string | undefined {
  return weightName.split('/').at(-2);
}

/** The weight's own part of its name: "conv_pw_1_bn/gamma" → "gamma". */
export function weightKey(weightName: string): string {
  return weightName.split('/').at(-1)!;
}

/** The weights a layer of a known class must hold, with their shapes; undefined for classes mcbuild does not know. */
export function expectedWeights(topology: Topology, name: string): { key: string; shape: number[] }[] | undefined {
  const cls = topology.className(name);
  const c = topology.config(name);
  if (WEIGHTLESS.has(cls)) return [];
  const inShape = () => {
    const s = topology.inputShape(name);
    const d = s.at(-1);
    if (typeof d !== 'number')
      throw new TopologyError(`layer ${JSON.stringify(name)} has an input whose last dimension is not known.`);
    return d;
  };
  const bias = (n: number) => (c.use_bias === false ? [] : [{ key: 'bias', shape: [n] }]);
  switch (cls) {
    case 'Dense':
      return [{ key: 'kernel', shape: [inShape(), c.units as number] }, ...bias(c.units as number)];
    case 'Conv2D': {
      const k = tupleOf(c.kernel_size, 2, 'kernel_size', name);
      return [{ key: 'kernel', shape: [k[0]!, k[1]!, inShape(), c.filters as number] }, ...bias(c.filters as number)];
    }
    case 'DepthwiseConv2D': {
      const k = tupleOf(c.kernel_size, 2, 'kernel_size', name);
      const dm = (c.depth_multiplier as number | undefined) ?? 1;
      const ch = inShape();
      return [{ key: 'depthwise_kernel', shape: [k[0]!, k[1]!, ch, dm] }, ...bias(ch * dm)];
    }
    case 'SeparableConv2D': {
      const k = tupleOf(c.kernel_size, 2, 'kernel_size', name);
      const dm = (c.depth_multiplier as number | undefined) ?? 1;
      const ch = inShape();
      return [
        { key: 'depthwise_kernel', shape: [k[0]!, k[1]!, ch, dm] },
        { key: 'pointwise_kernel', shape: [1, 1, ch * dm, c.filters as number] },
        ...bias(c.filters as number),
      ];
    }
    case 'BatchNormalization': {
      const s = topology.inputShape(name);
      const axis = batchNormAxis(name, c, s.length);
      const n = s[axis];
      if (typeof n !== 'number')
        throw new TopologyError(`layer ${JSON.stringify(name)} normalises an axis of unknown size.`);
      return [
        ...(c.scale === false ? [] : [{ key: 'gamma', shape: [n] }]),
        ...(c.center === false ? [] : [{ key: 'beta', shape: [n] }]),
        { key: 'moving_mean', shape: [n] },
        { key: 'moving_variance', shape: [n] },
      ];
    }
    default:
      return undefined;
  }
}

/** The axis a BatchNormalization normalises, as a non-negative index into a shape of rank `rank`. */
export function batchNormAxis(name: string, config: Readonly<Record<string, unknown>>, rank: number): number {
  const a = config.axis ?? -1;
  const axis = Array.isArray(a) && a.length === 1 ? a[0] : a;
  if (typeof axis !== 'number')
    throw new TopologyError(
      `layer ${JSON.stringify(name)} (BatchNormalization) normalises axes ${JSON.stringify(a)}; mcbuild reads a single axis.`,
    );
  return axis < 0 ? rank + axis : axis;
}

/**
 * Checks that the weights fit the topology as tf.loadLayersModel will: every weight belongs to a layer of the
 * model, and every layer of a known class has exactly the weights of its config and input, with their shapes.
 * Returns the problems (empty when consistent); rebuildModel throws on any.
 */
export function weightProblems(topology: Topology, specs: readonly Pick<WeightSpec, 'name' | 'shape'>[]): string[] {
  const problems: string[] = [];
  const byLayer = new Map<string, Map<string, number[]>>();
  for (const s of specs) {
    const layer = weightLayer(s.name);
    if (layer === undefined || !topology.has(layer)) {
      problems.push(`weight ${s.name} belongs to no layer of the model`);
      continue;
    }
    const m = byLayer.get(layer) ?? new Map<string, number[]>();
    if (m.has(weightKey(s.name))) problems.push(`weight ${s.name} is listed twice`);
    m.set(weightKey(s.name), s.shape);
    byLayer.set(layer, m);
  }
  for (const name of topology.names()) {
    let expected: { key: string; shape: number[] }[] | undefined;
    try {
      expected = expectedWeights(topology, name);
    } catch (e) {
      if (!(e instanceof TopologyError)) throw e;
      problems.push(e.message.replace(/\.$/, ''));
      continue;
    }
    if (expected === undefined) continue;
    const have = byLayer.get(name) ?? new Map<string, number[]>();
    for (const { key, shape } of expected) {
      const got = have.get(key);
      if (!got)
        problems.push(`layer ${name} (${topology.className(name)}) has no weight ${name}/${key} [${shape.join(', ')}]`);
      else if (got.length !== shape.length || got.some((d, k) => d !== shape[k]))
        problems.push(
          `weight ${name}/${key} has shape [${got.join(', ')}] but layer ${name} needs [${shape.join(', ')}]`,
        );
    }
    for (const key of have.keys())
      if (!expected.some((e) => e.key === key))
        problems.push(`weight ${name}/${key} is not a weight of layer ${name} (${topology.className(name)})`);
  }
  return problems;
}

/**
 * Decoded weights by layer, in manifest order, for passes that add, drop or rename weights. New weights go
 * right after their layer's last weight (or at the end), so the manifest keeps layers together.
 */
export class WeightTable {
  private items: DecodedWeight[];

  constructor(weights: readonly DecodedWeight[]) {
    this.items = [...weights];
  }

  list(): DecodedWeight[] {
    return [...this.items];
  }

  get(layer: string, key: string): DecodedWeight | undefined {
    return this.items.find((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
  }

  /** The weight, or a TopologyError naming it: for weights a layer's class requires. */
  require(layer: string, key: string): DecodedWeight {
    const w = this.get(layer, key);
    if (!w)
      throw new TopologyError(`the model has no weight ${layer}/${key}; model.json's weights do not match its layers.`);
    return w;
  }

  /** float32 values of a weight (a TopologyError for a missing or non-float weight). */
  floats(layer: string, key: string): Float32Array {
    const w = this.require(layer, key);
    if (!(w.values instanceof Float32Array))
      throw new TopologyError(`weight ${w.spec.name} is ${w.spec.dtype}, not float32.`);
    return w.values;
  }

  ofLayer(layer: string): DecodedWeight[] {
    return this.items.filter((w) => weightLayer(w.spec.name) === layer);
  }

  /** Sets (replacing, or adding after the layer's other weights) weight `layer/key` as float32 of `shape`. */
  set(layer: string, key: string, values: Float32Array, shape: readonly number[]): void {
    if (values.length !== elementCount(shape))
      throw new Error(`weight ${layer}/${key}: ${values.length} values for shape [${shape.join(', ')}]`);
    const at = this.items.findIndex((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
    if (at >= 0) {
      const { quantization: _dropped, ...spec } = this.items[at]!.spec;
      this.items[at] = { spec: { ...spec, shape: [...shape], dtype: 'float32' }, values };
      return;
    }
    const sibling = this.items.findLastIndex((w) => weightLayer(w.spec.name) === layer);
    // Keep any scope prefix the layer's other weights carry ("model/conv1/kernel").
    const prefix = sibling >= 0 ? this.items[sibling]!.spec.name.split('/').slice(0, -2).join('/') : '';
    const w: DecodedWeight = {
      spec: { name: `${prefix ? `${prefix}/` : ''}${layer}/${key}`, shape: [...shape], dtype: 'float32' },
      values,
    };
    this.items.splice(sibling >= 0 ? sibling + 1 : this.items.length, 0, w);
  }

  /** Removes one weight; returns it (undefined when absent). */
  delete(layer: string, key: string): DecodedWeight | undefined {
    const at = this.items.findIndex((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
    return at < 0 ? undefined : this.items.splice(at, 1)[0];
  }

  /** Removes every weight of a layer; returns them. */
  deleteLayer(layer: string): DecodedWeight[] {
    const gone = this.ofLayer(layer);
    this.items = this.items.filter((w) => weightLayer(w.spec.name) !== layer);
    return gone;
  }

  /** Renames a layer's weights (after Topology.renameLayer). */
  renameLayer(from: string, to: string): void {
    this.items = this.items.map((w) => {
      if (weightLayer(w.spec.name) !== from) return w;
      const parts = w.spec.name.split('/');
      parts[parts.length - 2] = to;
      return { ...w, spec: { ...w.spec, name: parts.join('/') } };
    });
  }
}

/**
 * The model with `topology` and `weights`, after checking they fit (weightProblems): a structural pass's
 * last step. Metadata and the shard size carry over; quantized weights the table still holds as decoded
 * are written as float32 (their spec no longer carries a quantization).
 */
export function rebuildModel(
  model: StoredModel,
  topology: Topology,
  weights: WeightTable | readonly DecodedWeight[],
): StoredModel {
  const list = weights instanceof WeightTable ? weights.list() : [...weights];
  const problems = weightProblems(
    topology,
    list.map((w) => w.spec),
  );
  if (problems.length) {
    // The pass built an inconsistent model: a bug, not the user's input.
    throw new Error(
      `rewired model is inconsistent: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
    );
  }
  const out = encodeWeights(topology.toModelJson(model.json), list);
  return model.shardBytes === undefined ? out : { ...out, shardBytes: model.shardBytes };
}
