/**
 * The surgery: slice the pruned channels out of every weight that holds them (the roots' output channels
 * and biases, then the readers' per-channel parameters and input channels, as the analysis recorded them)
 * and set the roots' new widths in the topology.
 */
import { layerClass, weightRole, type Topology, type WeightTable } from '../../model/index.js';
import type { Analysis, Group } from './analyse.js';
import { sliceAxis } from './slice.js';

/** Rewires `weights` and `topology` for the channels kept in each space (`keepOf`: canonical space → kept channels). */
export function rewire(
  topology: Topology,
  weights: WeightTable,
  analysis: Analysis,
  chosen: readonly Group[],
  keepOf: ReadonlyMap<number, number[]>,
): void {
  const expand = (kept: readonly number[], factor: number): number[] =>
    factor === 1 ? [...kept] : kept.flatMap((c) => Array.from({ length: factor }, (_, r) => c * factor + r));
  // Roots: output channels (the last axis of a Conv2D or Dense kernel) and bias.
  for (const g of chosen) {
    const kept = keepOf.get(g.spaces[0]!);
    if (!kept) continue;
    for (const root of g.roots) {
      const cls = topology.className(root);
      sliceWeight(weights, root, 'kernel', axisOf(cls, 'kernel', 'output'), kept);
      if (topology.config(root).use_bias !== false)
        sliceWeight(weights, root, 'bias', axisOf(cls, 'bias', 'output'), kept);
      topology.updateConfig(root, { [layerClass(cls)!.outputChannels!]: kept.length });
    }
  }
  // Readers: per-channel parameters and input channels.
  for (const e of analysis.edits) {
    const kept = keepOf.get(analysis.find(e.space));
    if (!kept) continue;
    const idx = expand(kept, e.factor);
    const cls = topology.className(e.layer);
    switch (e.kind) {
      case 'bn':
        for (const { key, outputAxis } of layerClass(cls)!.weights!)
          if (weights.get(e.layer, key)) sliceWeight(weights, e.layer, key, outputAxis, idx);
        break;
      case 'depthwise':
        sliceWeight(weights, e.layer, 'depthwise_kernel', axisOf(cls, 'depthwise_kernel', 'input'), idx);
        if (e.bias)
          sliceWeight(weights, e.layer, 'bias', axisOf(cls, 'bias', 'output'), expand(kept, e.factor * e.multiplier));
        break;
      case 'conv-in':
        sliceWeight(weights, e.layer, 'kernel', axisOf(cls, 'kernel', 'input'), idx);
        break;
      case 'dense-in': {
        const width = weights.require(e.layer, 'kernel').spec.shape[0]! / Math.max(1, e.spatial);
        const rows =
          e.spatial === 0 ? idx : Array.from({ length: e.spatial }, (_, p) => idx.map((t) => p * width + t)).flat();
        sliceWeight(weights, e.layer, 'kernel', axisOf(cls, 'kernel', 'input'), rows);
        break;
      }
    }
  }
}

/** The axis of a layer's weight `key` along which pruned channels are sliced: its output or its input channels. */
function axisOf(className: string, key: string, along: 'output' | 'input'): number {
  const role = weightRole(className, key)!;
  return along === 'output' ? role.outputAxis : role.inputAxis!;
}

/** Keeps the entries `keep` of axis `axis` (negative from the end) of weight layer/key. */
function sliceWeight(weights: WeightTable, layer: string, key: string, axis: number, keep: readonly number[]): void {
  const w = weights.require(layer, key);
  const shape = w.spec.shape;
  const a = axis < 0 ? shape.length + axis : axis;
  const sliced = sliceAxis({ shape, values: weights.floats(layer, key) }, a, keep);
  weights.set(layer, key, sliced.values, sliced.shape);
}
