/**
 * The edits structural passes make to a Keras topology, on its raw layer list: remove a layer, replace one by
 * a chain, rename one. Each keeps every reference (inbound nodes, model outputs) pointing at a layer that
 * exists; the Topology class calls them and drops its cached shapes.
 */
import {
  clone,
  indexOf,
  isRef,
  mustIndex,
  obj,
  refsOf,
  type RawLayer,
  type RawTopology,
  type Ref,
} from './keras-json.js';
import { TopologyError } from './topology-error.js';

/** A layer to insert: its Keras class and config; `config.name` names it and must be unique. */
export interface LayerSpec {
  class_name: string;
  config: Record<string, unknown>;
}

/**
 * Removes a single-input layer and feeds its consumers (and the model outputs it was) from its input
 * instead: the layer disappears from the function. A Sequential's first layer hands its input shape on.
 */
export function removeLayer(t: RawTopology, name: string): void {
  const i = mustIndex(t, name);
  const l = t.list[i]!;
  if (l.class_name === 'InputLayer')
    throw new TopologyError(`cannot remove ${JSON.stringify(name)}: it is the model's input.`);
  if (t.kind === 'sequential') {
    if (t.list.length === 1)
      throw new TopologyError(`cannot remove ${JSON.stringify(name)}: it is the model's only layer.`);
    const next = t.list[i + 1];
    if (next && next.class_name !== 'InputLayer') inheritInput(l, next);
    t.list.splice(i, 1);
  } else {
    const refs = refsOf(l);
    if (refs.length !== 1)
      throw new TopologyError(
        `cannot remove ${JSON.stringify(name)}: it has ${refs.length} inputs, and only a single-input layer can be bypassed.`,
      );
    const source = refs[0]!;
    redirect(t, name, source);
    t.list.splice(i, 1);
  }
}

/**
 * Replaces layer `name` by a chain of new layers: the first takes its inputs, each next one the previous
 * one's output, and the last feeds its consumers (and is a model output where it was). The chain may
 * reuse `name` (keep the old name on the layer that carries its role, e.g. the second of two Dense).
 */
export function replaceLayer(t: RawTopology, name: string, chain: readonly LayerSpec[]): void {
  const i = mustIndex(t, name);
  const old = t.list[i]!;
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
      throw new TopologyError(`replaceLayer(${JSON.stringify(name)}): two new layers are named ${JSON.stringify(n)}.`);
    if (n !== name && indexOf(t, n) >= 0)
      throw new TopologyError(
        `replaceLayer(${JSON.stringify(name)}): a layer named ${JSON.stringify(n)} already exists.`,
      );
  }
  const fresh: RawLayer[] = chain.map((s) => ({ class_name: s.class_name, config: clone(s.config) }));
  if (t.kind === 'sequential') {
    inheritInput(old, fresh[0]!);
  } else {
    const last = names.at(-1)!;
    fresh.forEach((l, k) => {
      l.name = names[k]!;
      l.inbound_nodes = k === 0 ? clone(old.inbound_nodes ?? []) : [[[names[k - 1]!, 0, 0, {}]]];
    });
    if (last !== name) redirect(t, name, [last, 0, 0]);
  }
  t.list.splice(i, 1, ...fresh);
}

/** Renames a layer everywhere it is referenced (rename its weights with WeightTable.renameLayer too). */
export function renameLayer(t: RawTopology, from: string, to: string): void {
  const i = mustIndex(t, from);
  if (from === to) return;
  if (indexOf(t, to) >= 0)
    throw new TopologyError(`cannot rename ${JSON.stringify(from)} to ${JSON.stringify(to)}: that name is taken.`);
  const l = t.list[i]!;
  l.config = { ...l.config, name: to };
  if (t.kind === 'functional') {
    l.name = to;
    for (const other of t.list) for (const r of refsOf(other)) if (r[0] === from) r[0] = to;
    for (const key of ['input_layers', 'output_layers'] as const) {
      const refs = obj(t.model.config)?.[key];
      if (Array.isArray(refs)) for (const r of refs) if (isRef(r) && r[0] === from) r[0] = to;
    }
  }
}

/** Every reference to layer `from` (in consumers and model outputs) now points at `to`'s tensor. */
function redirect(t: RawTopology, from: string, to: Ref): void {
  for (const other of t.list) {
    const node = refsOf(other);
    node.forEach((r, k) => {
      if (r[0] === from) node[k] = [to[0], to[1], to[2], ...r.slice(3)] as Ref;
    });
  }
  const outs = obj(t.model.config)?.output_layers;
  if (Array.isArray(outs))
    outs.forEach((r, k) => {
      if (isRef(r) && r[0] === from) outs[k] = [to[0], to[1], to[2]];
    });
}

/** A Sequential's input declaration (batch_input_shape, dtype) moves to the layer that now comes first. */
function inheritInput(from: RawLayer, to: RawLayer): void {
  for (const key of ['batch_input_shape', 'input_shape', 'dtype']) {
    if (from.config[key] !== undefined && to.config[key] === undefined) to.config[key] = clone(from.config[key]);
  }
}
