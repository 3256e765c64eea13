/**
 * Squeeze and Reshape nodes that only drop size-1 axes before the channels: [batch, 1, 1, C] → [batch, C], as the
 * converter writes a global average pool with keepdims followed by a squeeze, or a Flatten of a 1×1 map, before a
 * MatMul. prune-channels follows a space through one only where it can prove the channels stay, in order, on the
 * last axis; otherwise the reason (a clause after "which may move its channels: ") says why not. Which axes are size 1 comes from the layout's `unit` axes (a
 * reduction with keep_dims) and from the shapes the converter recorded on the input (`_output_shapes`).
 */
import type { GraphNode } from '../../model/index.js';
import { intAttr, type GraphLayout } from './graph-nodes.js';

/** A Reshape's shape constant whose entry `index` holds the width of a space's channels (factor per channel). */
export interface ShapeEdit {
  node: string;
  weight: string;
  index: number;
  space: number;
  factor: number;
}

/** A Squeeze without squeeze_dims reading a space: written with these dims when pruned (one channel left stays). */
export interface SqueezeEdit {
  node: string;
  dims: number[];
  space: number;
}

const between = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** The axes 1 … rank − 2 the converter recorded as size 1 on output `port` of `node` (`_output_shapes`). */
export function recordedUnitAxes(node: GraphNode | undefined, port: number, rank: number): number[] {
  const shapes = (node?.attr?._output_shapes as { list?: { shape?: { dim?: { size?: unknown }[] }[] } } | undefined)
    ?.list?.shape;
  const dim = Array.isArray(shapes) ? shapes[port]?.dim : undefined;
  if (!Array.isArray(dim) || dim.length !== rank) return [];
  return between(1, rank - 1).filter((a) => Number(dim[a]?.size) === 1);
}

/** `t` with the `unit` axes it is known to have (merged with `more`). */
export function withUnit(t: GraphLayout, more: readonly number[]): GraphLayout {
  const unit = [...new Set([...(t.unit ?? []), ...more])].sort((a, b) => a - b);
  return { space: t.space, factor: t.factor, rank: t.rank, ...(unit.length ? { unit } : {}) };
}

/** `t` with no axis known to be size 1 (after an op that changes the spatial sizes). */
export const spatial = (t: GraphLayout): GraphLayout => ({ space: t.space, factor: t.factor, rank: t.rank });

/** `t` without its axes `drop` (which are not the channels'). */
function without(t: GraphLayout, drop: readonly number[]): GraphLayout {
  const unit = (t.unit ?? []).filter((a) => !drop.includes(a)).map((a) => a - drop.filter((d) => d < a).length);
  return { space: t.space, factor: t.factor, rank: t.rank - new Set(drop).size, ...(unit.length ? { unit } : {}) };
}

/** The axes before the channels not known to be size 1 (the batch axis aside). */
const unknownAxes = (t: GraphLayout) => between(1, t.rank - 1).filter((a) => !(t.unit ?? []).includes(a));

/**
 * The layout after a Squeeze of `t` (`width` channels), with the dims to write when it has none; or the reason it
 * may move channels. Explicit squeeze_dims other than the channel axis only drop size-1 axes (TF checks them).
 */
export function squeezeLayout(
  node: GraphNode,
  t: GraphLayout,
  width: number,
): { layout: GraphLayout; dims?: number[] } | string {
  const dims = intAttr(node, 'squeeze_dims') ?? intAttr(node, 'axis');
  if (!dims?.length) {
    if (width === 1) return 'it squeezes every size-1 axis, its single channel too';
    const unknown = unknownAxes(t);
    if (unknown.length)
      return `it squeezes every size-1 axis, and axes ${unknown.join(', ')} of its input are not known to be size 1`;
    const drop = between(1, t.rank - 1);
    return { layout: without(t, drop), dims: drop };
  }
  const drop = dims.map((a) => (a < 0 ? a + t.rank : a));
  if (drop.some((a) => a < 0 || a >= t.rank))
    return `its squeeze_dims [${dims.join(', ')}] are not axes of its rank-${t.rank} input`;
  if (drop.includes(t.rank - 1)) return 'it squeezes the channel axis';
  return { layout: without(t, drop) };
}

/**
 * The layout after a Reshape of `t` (`width` channels) to `shape` (its shape constant's values), or the reason it
 * may move channels: only [batch, 1, …, 1, width] → [batch or −1, 1, …, 1, width] is followed.
 */
export function reshapeLayout(
  t: GraphLayout,
  width: number,
  shape: readonly number[] | undefined,
): { layout: GraphLayout; dims?: number[] } | string {
  if (shape === undefined) return 'its shape is not a constant int32 tensor';
  const unknown = unknownAxes(t);
  if (unknown.length)
    return `axes ${unknown.join(', ')} of its input are not known to be size 1 (only [batch, 1, …, 1, channels] is followed)`;
  const [first, ...rest] = shape;
  const last = rest.pop();
  if (first === undefined || last !== width || !(first === -1 || first > 0) || rest.some((d) => d !== 1))
    return `its shape [${shape.join(', ')}] does not keep the ${width} channels last ([batch, 1, …, 1, ${width}])`;
  const unit = between(1, shape.length - 1);
  return { layout: { space: t.space, factor: t.factor, rank: shape.length, ...(unit.length ? { unit } : {}) } };
}
