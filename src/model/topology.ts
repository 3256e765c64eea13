/**
 * The Keras topology of a TF.js layers model (`json.modelTopology`), read and rewritten as plain JSON: the
 * one place structural passes (fold-batchnorm, lowrank, prune-channels) and the FLOPs counter learn what a
 * layer is, what feeds it, what it feeds and what shape it outputs. No TF.js: a pass that only rewires
 * layers and rewrites weights stays engine-free, and its output is checked against the weights before it
 * leaves (rebuildModel), so a rewiring mistake fails here with the layer's name rather than inside
 * tf.loadLayersModel.
 *
 * The stored form and its checks are in keras-json.ts, the edits in topology-edit.ts, shape inference in
 * shapes.ts. Weights are matched to layers by name, `<layer>/<weight>` (TF.js's `originalName`, the manifest
 * name): WeightTable keeps them in manifest order while layers lose, gain or rename weights.
 */
import { McbError } from '../errors.js';
import { modelKind, type StoredModel } from './format.js';
import {
  clone,
  declaredInputShape,
  indexOf,
  isRef,
  mustIndex,
  obj,
  outputRefs,
  parseTopology,
  refsOf,
  type RawTopology,
} from './keras-json.js';
import type { Shape } from './dims.js';
import { inferShapes } from './shapes.js';
import { removeLayer, renameLayer, replaceLayer, type LayerSpec } from './topology-edit.js';
import { TopologyError } from './topology-error.js';

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

export class Topology {
  private readonly t: RawTopology;
  readonly kind: 'sequential' | 'functional';
  private shapeCache: Map<string, Shape | Error> | undefined;

  private constructor(root: Record<string, unknown>) {
    this.t = parseTopology(root);
    this.kind = this.t.kind;
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
    return new Topology(clone(this.t.root));
  }

  // ---------------------------------------------------------------- reading

  /** Every layer in stored order (Keras stores functional layers in a topological order). */
  layers(): LayerInfo[] {
    return this.t.list.map((_, i) => this.info(i));
  }

  names(): string[] {
    return this.t.list.map((l) => l.config.name as string);
  }

  has(name: string): boolean {
    return indexOf(this.t, name) >= 0;
  }

  layer(name: string): LayerInfo {
    return this.info(mustIndex(this.t, name));
  }

  className(name: string): string {
    return this.t.list[mustIndex(this.t, name)]!.class_name;
  }

  /** The layer's config, read-only (a live view: do not mutate; use updateConfig). */
  config(name: string): Readonly<Record<string, unknown>> {
    return this.t.list[mustIndex(this.t, name)]!.config;
  }

  /** Names of the layers feeding `name`, in call order ([] for an InputLayer and a Sequential's first layer). */
  inbound(name: string): string[] {
    const i = mustIndex(this.t, name);
    if (this.kind === 'sequential')
      return i === 0 || this.t.list[i]!.class_name === 'InputLayer' ? [] : [this.t.list[i - 1]!.config.name as string];
    return refsOf(this.t.list[i]!).map((r) => r[0]);
  }

  /** Names of the layers that read `name`'s output, in layer order, each once. */
  consumers(name: string): string[] {
    const i = mustIndex(this.t, name);
    if (this.kind === 'sequential')
      return i + 1 < this.t.list.length ? [this.t.list[i + 1]!.config.name as string] : [];
    return this.t.list.filter((l) => refsOf(l).some((r) => r[0] === name)).map((l) => l.config.name as string);
  }

  /** Names of the model's output layers. */
  outputs(): string[] {
    if (this.kind === 'sequential') return this.t.list.length ? [this.t.list.at(-1)!.config.name as string] : [];
    return outputRefs(this.t).map((r) => r[0]);
  }

  /** Names of the model's input layers (InputLayers); [] for a Sequential without one (its first layer takes the input). */
  inputs(): string[] {
    if (this.kind === 'sequential')
      return this.t.list[0]?.class_name === 'InputLayer' ? [this.t.list[0].config.name as string] : [];
    const refs = obj(this.t.model.config)?.input_layers;
    return Array.isArray(refs) ? refs.filter(isRef).map((r) => r[0]) : [];
  }

  isOutput(name: string): boolean {
    mustIndex(this.t, name);
    return this.outputs().includes(name);
  }

  // ---------------------------------------------------------------- editing

  /** Replaces a layer's config (its name cannot change here: use renameLayer). */
  setConfig(name: string, config: Record<string, unknown>): void {
    const l = this.t.list[mustIndex(this.t, name)]!;
    if (config.name !== undefined && config.name !== name)
      throw new TopologyError(`setConfig cannot rename layer ${JSON.stringify(name)}; use renameLayer.`);
    l.config = { ...clone(config), name };
    this.changed();
  }

  /** Merges `patch` into a layer's config (`{ use_bias: true }`); undefined values delete keys. */
  updateConfig(name: string, patch: Record<string, unknown>): void {
    const l = this.t.list[mustIndex(this.t, name)]!;
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
    removeLayer(this.t, name);
    this.changed();
  }

  /**
   * Replaces layer `name` by a chain of new layers: the first takes its inputs, each next one the previous
   * one's output, and the last feeds its consumers (and is a model output where it was). The chain may
   * reuse `name` (keep the old name on the layer that carries its role, e.g. the second of two Dense).
   */
  replaceLayer(name: string, chain: readonly LayerSpec[]): void {
    replaceLayer(this.t, name, chain);
    this.changed();
  }

  /** Inserts a new single-input layer right after `name`, between it and its consumers. */
  insertAfter(name: string, spec: LayerSpec): void {
    const l = this.t.list[mustIndex(this.t, name)]!;
    // Keep the existing layer object (and name) as the chain's head, so nothing about it changes.
    this.replaceLayer(name, [{ class_name: l.class_name, config: l.config }, spec]);
  }

  /** Renames a layer everywhere it is referenced (rename its weights with WeightTable.renameLayer too). */
  renameLayer(from: string, to: string): void {
    renameLayer(this.t, from, to);
    this.changed();
  }

  /** The edited modelTopology (a copy). */
  toJSON(): Record<string, unknown> {
    return clone(this.t.root);
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
        ? this.t.list[0]
        : this.t.list.find((l) => l.class_name === 'InputLayer' && l.config.name === this.inputs()[0]);
    const shape = first && declaredInputShape(first.config);
    if (!shape)
      throw new TopologyError(
        "model.json does not declare the model's input shape (no batch_input_shape on the input layer).",
      );
    return shape;
  }

  /** Output shape of a layer, batch first. Throws TopologyError naming the layer when it cannot be inferred. */
  outputShape(name: string): Shape {
    mustIndex(this.t, name);
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
    const l = this.t.list[i]!;
    const name = l.config.name as string;
    return { name, className: l.class_name, config: clone(l.config), inbound: this.inbound(name), index: i };
  }

  private changed(): void {
    this.shapeCache = undefined;
  }

  private allShapes(): Map<string, Shape | Error> {
    this.shapeCache ??= inferShapes(this);
    return this.shapeCache;
  }
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
