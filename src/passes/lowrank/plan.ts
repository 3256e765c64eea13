/** Planning for lowrank: which layers it may replace, and the layers a model has after it, before it runs. */
import { layerClass, type ModelLayer } from '../../model/index.js';
import type { LayerOptions } from '../define.js';
import type { LowrankOptions } from './options.js';

/** Whether lowrank factors the kernel of a layer of this class (the catalogue's Dense and Conv2D). */
export function factored(className: string | undefined): boolean {
  return className !== undefined && layerClass(className)?.lowrank === true;
}

/** Why lowrank leaves a layer of this class alone, for other classes with a kernel (DepthwiseConv2D, SeparableConv2D). */
export function whyNotFactored(className: string): string | undefined {
  const why = layerClass(className)?.lowrank;
  return typeof why === 'string' ? why : undefined;
}

/** The names of the two layers that replace `layer`. */
export function factorNames(layer: string): [string, string] {
  return [`${layer}_lr1`, `${layer}_lr2`];
}

/**
 * Planning: every layer lowrank may decompose (a Dense or Conv2D, named in `layers` when given, not skipped)
 * is followed by its two factor layers, and its consumers read the second, as after a decomposition. A
 * superset: whether the rank rule really makes a layer smaller depends on its kernel's shape, which the
 * list does not show, so the original stays listed too (read by nothing, in the prediction).
 */
export function layersAfterDecomposing(
  layers: readonly ModelLayer[],
  options: LowrankOptions,
  layerOptions: LayerOptions<LowrankOptions>,
): ModelLayer[] {
  const mayDecompose = (l: ModelLayer) =>
    factored(l.className) &&
    (options.layers === undefined || options.layers.includes(l.name)) &&
    layerOptions(l.name) !== null;
  const tail = new Map(layers.filter(mayDecompose).map((l) => [l.name, factorNames(l.name)[1]]));
  return layers.flatMap((l) => {
    const read = l.inbound?.some((n) => tail.has(n)) ? { ...l, inbound: l.inbound.map((n) => tail.get(n) ?? n) } : l;
    if (!tail.has(l.name)) return [read];
    // A graph node keeps its name and reads a new plain node <name>_lr1 (src/passes/lowrank/graph.ts).
    if (l.op !== undefined)
      return [{ name: `${l.name}_lr1`, className: l.className!, op: l.className === 'Dense' ? 'MatMul' : 'Conv2D' }, l];
    const [first, second] = factorNames(l.name);
    return [
      read,
      { name: first, className: l.className!, ...(read.inbound ? { inbound: read.inbound } : {}) },
      { name: second, className: l.className!, inbound: [first] },
    ];
  });
}
