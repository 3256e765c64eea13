/**
 * Compute cost of a layers model per sample (batch 1), from its topology alone (src/model/): no TF.js, so a
 * cached build can still report it and a structural pass can predict what it saves. The formulas and their
 * conventions (MACs of convolutions and Dense layers, FLOPs of every multiply and add, pooling, batch norms
 * and merges; activations, reshapes, padding and dropout not counted) are the layer catalogue's, in
 * src/model/layer-costs.ts.
 *
 * A model with a layer whose class mcbuild does not know is not counted at all (a partial total would read
 * as a real one).
 */
import { layerClass, type Cost, type Shape, type StoredModel, Topology, TopologyError } from '../model/index.js';

export interface LayerCost {
  name: string;
  className: string;
  macs: number;
  flops: number;
  outputShape: Shape;
}

export interface ModelCost {
  /** Multiply-accumulates per sample. */
  macs: number;
  /** Floating-point operations per sample (see the conventions above). */
  flops: number;
  layers: LayerCost[];
}

/** Cost of every layer of the topology; throws TopologyError when a shape or layer cannot be counted. */
export function countCost(topology: Topology): ModelCost {
  const layers: LayerCost[] = [];
  for (const l of topology.layers()) {
    const out = topology.outputShape(l.name);
    const ins = l.className === 'InputLayer' ? [] : topology.inputShapes(l.name);
    const { macs, flops } = layerCost(l.name, l.className, l.config, ins, out);
    layers.push({ name: l.name, className: l.className, macs, flops, outputShape: out });
  }
  return { macs: layers.reduce((n, l) => n + l.macs, 0), flops: layers.reduce((n, l) => n + l.flops, 0), layers };
}

/** countCost of a stored model, or the reason it cannot be counted (a graph model, an unknown layer class, …). */
export function modelCost(json: StoredModel['json']): ModelCost | { unavailable: string } {
  try {
    return countCost(Topology.fromModel(json));
  } catch (e) {
    if (e instanceof TopologyError) return { unavailable: e.message };
    throw e;
  }
}

/** One layer's cost from the catalogue's formula for its class (src/model/layer-costs.ts). */
function layerCost(name: string, cls: string, config: Record<string, unknown>, ins: Shape[], out: Shape): Cost {
  const rule = layerClass(cls)?.cost;
  if (rule === 'uncounted')
    throw new TopologyError(`mcbuild does not count the FLOPs of layer ${JSON.stringify(name)} (${cls}).`);
  // Every class shape inference knows has a rule; 'free': it moves or selects data, or is an activation.
  if (rule === undefined || rule === 'free') return { macs: 0, flops: 0 };
  return rule({ name, className: cls, config, inputs: ins, output: out });
}
