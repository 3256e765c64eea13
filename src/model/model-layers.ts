/**
 * The layers of a model as per-layer overrides, planning and the passes name them: a layers model's Keras
 * layers (name, class, inputs), or a graph model's nodes that hold weights (graph-layers.ts).
 */
import { modelKind } from './format.js';
import { readGraph, weightGroup } from './graph-layers.js';
import { Topology } from './topology.js';

/** A layer as overrides see it: its name and Keras class (absent for a graph model's weight groups). */
export interface ModelLayer {
  name: string;
  className?: string;
  /** Layers feeding this one (layers models), for passes that predict their own effect on the layer list. */
  inbound?: string[];
  /** A graph model's node: its op (_FusedConv2D), which an override's `ops:` matches. */
  op?: string;
}

/**
 * The layers of a model: the Keras topology of a layers model; for a graph model, the nodes that consume weights
 * (name, op, the Keras class computing the same), then the weights no known op reads grouped by name (from
 * `weights`, a StoredModel's weightSpecs, or else model.json's weightsManifest).
 */
export function modelLayers(json: Record<string, unknown>, weights?: readonly { name: string }[]): ModelLayer[] {
  if (modelKind(json) === 'layers') {
    // A topology the structural passes cannot read (shared layers) falls back to the weight names.
    const topology = Topology.tryFromModel(json);
    if (topology) return topology.layers().map((l) => ({ name: l.name, className: l.className, inbound: l.inbound }));
  }
  const graph = readGraph(json);
  const out: ModelLayer[] =
    graph?.layers.map((l) => ({ name: l.name, op: l.op, ...(l.className ? { className: l.className } : {}) })) ?? [];
  const names = new Set(out.map((l) => l.name));
  const manifest = (json.weightsManifest as { weights?: { name?: unknown }[] }[] | undefined) ?? [];
  for (const w of weights ?? manifest.flatMap((g) => g.weights ?? [])) {
    if (typeof w.name !== 'string' || graph?.weights.has(w.name)) continue;
    const name = weightGroup(w.name);
    if (!names.has(name)) out.push({ name });
    names.add(name);
  }
  return out;
}
