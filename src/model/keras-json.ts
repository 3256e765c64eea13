/**
 * A Keras topology (`json.modelTopology` of a TF.js layers model) as stored: the raw layer list, checked
 * once so that the Topology class and its edits can rely on its form.
 *
 * Formats read: `Sequential` (config `{ name, layers }`, or the older bare list) and `Model` / `Functional`
 * (config `{ layers, input_layers, output_layers }`, each layer with `inbound_nodes` in the Keras 2 /
 * TF.js form `[[["name", nodeIndex, tensorIndex, kwargs], …]]`). A layer called more than once (a shared
 * layer) or a model nested as a layer is refused: every structural pass needs one node per layer.
 */
import type { Shape } from './dims.js';
import { TopologyError } from './topology-error.js';

/** Keras's per-layer JSON as stored: `name` and `inbound_nodes` only in functional models. */
export interface RawLayer {
  class_name: string;
  config: Record<string, unknown>;
  name?: string;
  inbound_nodes?: unknown[];
}

/** A functional reference: [layer, nodeIndex, tensorIndex, kwargs?]. */
export type Ref = [string, number, number, ...unknown[]];

/** A checked modelTopology: the objects inside it are live (edits change `root`). */
export interface RawTopology {
  /** The whole modelTopology (keras_version, backend, …), a private deep copy. */
  readonly root: Record<string, unknown>;
  /** The object whose `class_name`/`config` describe the model: modelTopology itself or its `model_config`. */
  readonly model: Record<string, unknown>;
  readonly list: RawLayer[];
  readonly kind: 'sequential' | 'functional';
}

export const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
export const clone = <T>(v: T): T => structuredClone(v);

/** Checks a modelTopology (taken as is, not copied) and returns its layer list; TopologyError for a form mcbuild does not read. */
export function parseTopology(root: Record<string, unknown>): RawTopology {
  const model = obj(root.model_config) ?? root;
  const cls = model.class_name;
  const config = model.config;
  let kind: RawTopology['kind'];
  let list: RawLayer[];
  if (cls === 'Sequential') {
    kind = 'sequential';
    // Keras < 2.2.3 stored a Sequential's config as the bare layer list.
    const layers = Array.isArray(config) ? config : obj(config)?.layers;
    if (!Array.isArray(layers))
      throw new TopologyError(
        'the Sequential model in model.json has no `config.layers` list. Save the model again with TF.js `model.save()`.',
      );
    list = layers as RawLayer[];
    if (Array.isArray(config)) model.config = { name: 'sequential', layers: list };
  } else if (cls === 'Model' || cls === 'Functional') {
    kind = 'functional';
    const layers = obj(config)?.layers;
    if (!Array.isArray(layers))
      throw new TopologyError(
        `the ${cls} model in model.json has no \`config.layers\` list. Save the model again with TF.js \`model.save()\`.`,
      );
    list = layers as RawLayer[];
  } else {
    throw new TopologyError(
      `model.json's topology is a ${typeof cls === 'string' ? cls : 'model of unknown class'}; mcbuild reads Sequential and functional (Model / Functional) layers models.`,
    );
  }
  const seen = new Set<string>();
  for (const [i, l] of list.entries()) {
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
    if (kind === 'functional') {
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
        throw new TopologyError(`layer ${JSON.stringify(name)} has no inbound node: it is not connected to the model.`);
    }
  }
  return { root, model, list, kind };
}

export function isRef(r: unknown): r is Ref {
  return Array.isArray(r) && typeof r[0] === 'string' && typeof r[1] === 'number' && typeof r[2] === 'number';
}

export function indexOf(t: RawTopology, name: string): number {
  return t.list.findIndex((l) => l.config.name === name);
}

export function mustIndex(t: RawTopology, name: string): number {
  const i = indexOf(t, name);
  if (i < 0) throw new TopologyError(`the model has no layer named ${JSON.stringify(name)}.`);
  return i;
}

/** The references of a functional layer's (only) inbound node, live. */
export function refsOf(l: RawLayer): Ref[] {
  const node = l.inbound_nodes?.[0];
  return Array.isArray(node) ? (node as Ref[]) : [];
}

export function outputRefs(t: RawTopology): Ref[] {
  const refs = obj(t.model.config)?.output_layers;
  return Array.isArray(refs) ? refs.filter(isRef) : [];
}

/** A layer's input declaration (batch_input_shape, or input_shape without the batch), batch first. */
export function declaredInputShape(config: Readonly<Record<string, unknown>>): Shape | undefined {
  const b = config.batch_input_shape ?? config.batchInputShape;
  if (Array.isArray(b)) return b.map((d) => (typeof d === 'number' ? d : null));
  const s = config.input_shape ?? config.inputShape;
  if (Array.isArray(s)) return [null, ...s.map((d) => (typeof d === 'number' ? d : null))];
  return undefined;
}
