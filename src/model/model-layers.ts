/**
 * The layers of a model as per-layer overrides, planning and the passes name them: a layers model's Keras
 * layers (name, class, inputs), or a graph model's weight groups.
 */
import { modelKind } from './format.js';
import { Topology } from './topology.js';

/** A layer as overrides see it: its name and Keras class (absent for a graph model's weight groups). */
export interface ModelLayer {
  name: string;
  className?: string;
  /** Layers feeding this one (layers models), for passes that predict their own effect on the layer list. */
  inbound?: string[];
}

/**
 * The layers of a model: the Keras topology of a layers model, or the weight groups of a graph model (from
 * `weights`, a StoredModel's weightSpecs, or else model.json's weightsManifest).
 */
export function modelLayers(json: Record<string, unknown>, weights?: readonly { name: string }[]): ModelLayer[] {
  if (modelKind(json) === 'layers') {
    // A topology the structural passes cannot read (shared layers) falls back to the weight names.
    const topology = Topology.tryFromModel(json);
    if (topology) return topology.layers().map((l) => ({ name: l.name, className: l.className, inbound: l.inbound }));
  }
  const manifest = (json.weightsManifest as { weights?: { name?: unknown }[] }[] | undefined) ?? [];
  const names = new Set<string>();
  for (const w of weights ?? manifest.flatMap((g) => g.weights ?? [])) {
    if (typeof w.name !== 'string') continue;
    const cut = w.name.lastIndexOf('/');
    names.add(cut > 0 ? w.name.slice(0, cut) : w.name);
  }
  return [...names].map((name) => ({ name }));
}
