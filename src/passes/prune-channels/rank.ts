/**
 * How many channels, and which, each chosen group keeps. Importance of an output channel: `l1` Σ|w| or `l2`
 * ‖w‖₂ of its filter (Li et al. 2017), or `bn-gamma` |γ| of the BatchNormalization right after the root
 * (Network Slimming, Liu et al. 2017), summed over a group's roots. Scope layer: each group loses
 * round(sparsity·n) of its n channels; scope global: all candidate channels are ranked together (|γ| as is,
 * l1/l2 per weight, so layers of different fan-in compare), each group keeping at least one.
 */
import { McbError } from '../../errors.js';
import type { Topology, WeightTable } from '../../model/index.js';
import type { Group } from './analyse.js';
import type { ChannelCriterion, PruneChannelsOptions } from './options.js';
import { followingBatchNorm, type OptionText, type SkippedGroup } from './select.js';

/** Importance per channel of each chosen group, summed over its roots. */
export function groupImportance(
  topology: Topology,
  weights: WeightTable,
  chosen: readonly Group[],
  optionsOf: ReadonlyMap<Group, PruneChannelsOptions>,
  passAt: string,
): Map<Group, Float64Array> {
  const importance = new Map<Group, Float64Array>();
  for (const g of chosen) {
    const n = g.size;
    const sum = new Float64Array(n);
    for (const root of g.roots) {
      const imp = channelImportance(topology, weights, root, optionsOf.get(g)!.criterion, n, passAt);
      for (let c = 0; c < n; c++) sum[c]! += imp[c]!;
    }
    importance.set(g, sum);
  }
  return importance;
}

/**
 * How many channels each group keeps: each group on its own (scope layer, or its own options from an
 * override), the others ranked together (scope global). A group its sparsity would empty is an error when
 * `layers` named it, else skipped: it leaves `chosen` for `skipped`.
 */
export function keepCounts(
  perChannel: (g: Group) => number,
  chosen: Group[],
  optionsOf: ReadonlyMap<Group, PruneChannelsOptions>,
  importance: ReadonlyMap<Group, Float64Array>,
  options: PruneChannelsOptions,
  optionText: OptionText,
  skipped: SkippedGroup[],
): Map<Group, number> {
  const keepCount = new Map<Group, number>();
  const alone = chosen.filter((g) => options.scope === 'layer' || optionsOf.get(g) !== options);
  for (const g of alone) {
    const o = optionsOf.get(g)!;
    const remove = Math.round(o.sparsity * g.size);
    if (remove >= g.size) {
      const why = `it has ${g.size} channel${g.size === 1 ? '' : 's'}, and removing round(${o.sparsity}·${g.size}) = ${remove} would leave none`;
      if (options.layers !== undefined) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('sparsity', o)} would remove every channel of layer ${g.roots.join(' + ')}: ${why}. Lower \`sparsity\` below ${Number(((g.size - 0.5) / g.size).toPrecision(6))}, or remove ${g.roots[0]} from \`layers\`.`,
        );
      }
      skipped.push({ layers: g.roots, reason: why });
      chosen.splice(chosen.indexOf(g), 1);
      continue;
    }
    keepCount.set(g, g.size - remove);
  }
  const ranked = chosen.filter((g) => !alone.includes(g));
  if (ranked.length) {
    // Global: all candidate channels ranked together; each group keeps at least one.
    const all: { g: Group; c: number; score: number }[] = [];
    for (const g of ranked) {
      const scale = options.criterion === 'bn-gamma' ? 1 : 1 / perChannel(g);
      importance.get(g)!.forEach((v, c) => all.push({ g, c, score: v * scale }));
    }
    all.sort((a, b) => a.score - b.score || a.c - b.c);
    const target = Math.round(options.sparsity * all.length);
    const left = new Map(ranked.map((g) => [g, g.size]));
    let removed = 0;
    for (const item of all) {
      if (removed >= target) break;
      const n = left.get(item.g)!;
      if (n <= 1) continue;
      left.set(item.g, n - 1);
      removed++;
    }
    for (const g of ranked) keepCount.set(g, left.get(g)!);
  }
  return keepCount;
}

/** The `keep` most important of a group's channels (the earlier one on a tie), in their original order. */
export function keptChannels(imp: Float64Array, size: number, keep: number): number[] {
  const order = Array.from({ length: size }, (_, c) => c).sort((a, b) => imp[b]! - imp[a]! || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}

/** Importance of each of the n output channels of a root. */
function channelImportance(
  topology: Topology,
  weights: WeightTable,
  root: string,
  criterion: ChannelCriterion,
  n: number,
  passAt: string,
): Float64Array {
  const out = new Float64Array(n);
  const read = (layer: string, key: string) => {
    const v = weights.floats(layer, key);
    for (const x of v)
      if (x - x !== 0)
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight ${layer}/${key} holds ${x}${passAt}, so its channels cannot be ranked; retrain the model or check the steps before prune-channels.`,
        );
    return v;
  };
  if (criterion === 'bn-gamma') {
    const g = read(followingBatchNorm(topology, root)!, 'gamma');
    for (let c = 0; c < n; c++) out[c] = Math.abs(g[c]!);
    return out;
  }
  return filterImportance(read(root, 'kernel'), n, criterion, 1);
}

/**
 * l1 or l2 norm of each of the n output filters of a kernel whose flat element i belongs to output channel
 * i mod n (`inner` 1: [.., in, out]), or ⌊i / inner⌋ mod n (a matrix stored [out, in], `inner` = in).
 */
export function filterImportance(k: Float32Array, n: number, criterion: 'l1' | 'l2', inner: number): Float64Array {
  const out = new Float64Array(n);
  const channel = inner === 1 ? (i: number) => i % n : (i: number) => Math.floor(i / inner) % n;
  if (criterion === 'l1') for (let i = 0; i < k.length; i++) out[channel(i)]! += Math.abs(k[i]!);
  else {
    for (let i = 0; i < k.length; i++) out[channel(i)]! += k[i]! * k[i]!;
    for (let c = 0; c < n; c++) out[c] = Math.sqrt(out[c]!);
  }
  return out;
}

/** Kernel weights per output channel summed over a group's roots (to compare l1/l2 across layers). */
export function perChannelWeights(weights: WeightTable, g: Group): number {
  return g.roots.reduce((n, r) => n + weights.require(r, 'kernel').values.length / g.size, 0);
}
