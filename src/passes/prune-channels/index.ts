/**
 * prune-channels: structured pruning. Removes whole output channels (filters) of Conv2D layers and units of
 * Dense layers, and rewires everything that reads them, so the result is an ordinary, smaller LayersModel
 * that stock TF.js loads and runs faster (fewer parameters, MACs and latency; no special loader).
 *
 * Channel spaces. Walking the topology in order, every Conv2D or Dense output opens a channel space (the
 * layer is its root); the space follows the tensor through layers that keep channels in place and is
 * rewired where it is read:
 *  - BatchNormalization (channels axis): gamma, beta and moving statistics are sliced;
 *  - DepthwiseConv2D: its channels follow its input, so pruning the producer prunes the depthwise kernel and
 *    bias (channel c·m + j of depth multiplier m) and the space continues through it: a depthwise layer is
 *    never a root, its own batch norm and the next pointwise conv's inputs are rewired too;
 *  - activations (except softmax and PReLU), dropout, pooling, zero padding and global pooling: nothing to do;
 *  - Conv2D: input channels of the kernel are sliced (the chain ends there);
 *  - Dense: rows of the kernel; after Flatten of an NHWC tensor, row p·C + c for each spatial position p
 *    (the channel is the fastest-varying index);
 *  - element-wise merges (Add, …): every tensor they combine must keep the same channels, so the spaces of
 *    their inputs become one group, pruned with one shared selection ranked by the importance summed over the
 *    group's roots (MobileNet v2's residual chains: block_1_project + block_2_project, …).
 * A space read by anything else (Concatenate, Reshape, SeparableConv2D, LayerNormalization, a softmax, a
 * merge whose inputs are laid out differently, …) or that is a model output (the predictions layer) cannot
 * be pruned: its group is skipped with the reason, or it is an error when the user named one of its layers.
 *
 * Importance of an output channel: `l1` Σ|w| or `l2` ‖w‖₂ of its filter (Li et al. 2017), or `bn-gamma` |γ|
 * of the BatchNormalization right after the root (Network Slimming, Liu et al. 2017). `sparsity: s` removes
 * round(s·n) of the n channels of each group (`scope: layer`), or round(s·N) of all N candidate channels
 * ranked together (`scope: global`: |γ| as is, l1/l2 per weight, so layers of different fan-in compare;
 * each group keeps at least one). `roundTo: r` rounds the kept count up to a multiple of r.
 *
 * Per-layer overrides set `sparsity` and `criterion` for the root layers they match, or `skip` them (their
 * channels are never removed). A group is pruned as one, so one skipped root keeps the whole group; when
 * its roots' options disagree, the root with the smallest sparsity decides (the one that removes least;
 * the first root on a tie), criterion included. With `scope: global`, a group whose options an override set
 * is pruned on its own at its sparsity, outside the ranking, which spreads the entry's sparsity over the
 * rest. `layers` still names the roots, and overrides narrow it (named and not skipped).
 *
 * Pure weight arithmetic on the decoded arrays, no TF.js. Weights that arrive quantized come out float32.
 */
import { McbError } from '../../errors.js';
import {
  batchNormAxis,
  decodeWeights,
  layerClass,
  paramCount,
  passTopology,
  rebuildModel,
  Topology,
  weightProblems,
  weightRole,
  WeightTable,
  type ChannelRule,
  type StoredModel,
} from '../../model/index.js';
import { modelCost } from '../../metrics/index.js';
import { formatDataPath, suggest } from '../../recipe/index.js';
import { definePass, optionsByLayer, type LayerOptions, type OptionsPlace, SKIPPED_BY_OVERRIDE } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export type ChannelCriterion = 'l1' | 'l2' | 'bn-gamma';

export interface PruneChannelsOptions {
  /** Fraction of each group's channels removed (scope layer), or of all candidate channels (scope global), in [0, 1). */
  sparsity: number;
  criterion: ChannelCriterion;
  scope: 'layer' | 'global';
  /** Kept channel counts rounded up to a multiple of this (1: no rounding). */
  roundTo: number;
  /** Exactly these root layers (and the groups they belong to); undefined: every prunable group. */
  layers?: string[];
}

/** One pruned root layer. */
export interface PrunedLayer {
  layer: string;
  className: 'Conv2D' | 'Dense';
  channelsBefore: number;
  channelsAfter: number;
  /** The sparsity and criterion an override block set for this layer's group; absent when it took the entry's. */
  override?: { sparsity: number; criterion: ChannelCriterion };
}

/** A group of roots whose outputs are merged (summed by an Add), pruned with one shared selection. */
export interface PrunedGroup {
  layers: string[];
  /** The merge layers that tie them. */
  merges: string[];
  channelsBefore: number;
  channelsAfter: number;
  selection: string;
}

export interface SkippedGroup {
  /** The root layers of the group (one unless merges tie several). */
  layers: string[];
  reason: string;
}

/** What a layer of this class does to the channels it reads (the catalogue's; undefined: prune-channels cannot follow them). */
function channelRule(className: string): ChannelRule | undefined {
  return layerClass(className)?.channels;
}

/** The axis of a layer's weight `key` along which pruned channels are sliced: its output or its input channels. */
function axisOf(className: string, key: string, along: 'output' | 'input'): number {
  const role = weightRole(className, key)!;
  return along === 'output' ? role.outputAxis : role.inputAxis!;
}

const CRITERIA: readonly ChannelCriterion[] = ['l1', 'l2', 'bn-gamma'];

/** Where each set of resolved options was written (for a layer's own options: the override block's place). */
const written = new WeakMap<PruneChannelsOptions, OptionsPlace>();

/** How a tensor's channels relate to a space of n channels: channel s·factor + r (r < factor); `spatial` > 0 after Flatten. */
interface Layout {
  space: number;
  factor: number;
  /** Flattened: P spatial positions, each holding the n·factor channels (0: not flattened). */
  spatial: number;
}

/** A weight edit in a layer that reads a space. */
type Edit =
  | { kind: 'bn'; layer: string; space: number; factor: number }
  | { kind: 'depthwise'; layer: string; space: number; factor: number; multiplier: number; bias: boolean }
  | { kind: 'conv-in'; layer: string; space: number; factor: number }
  | { kind: 'dense-in'; layer: string; space: number; factor: number; spatial: number };

export const pruneChannels = definePass<PruneChannelsOptions>({
  meta: {
    name: 'prune-channels',
    version: 1,
    summary: 'remove whole Conv2D filters / Dense units by importance and rewire the layers that read them',
    docs: DOCS,
    schema,
    perLayer: ['sparsity', 'criterion'],
    models: ['layers'],
    sensitivity: { option: 'sparsity', candidates: [0.25, 0.5, 0.75] },
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions(raw, place) {
    const invalid = (option: string, message: string) =>
      new McbError('MCB_RECIPE_INVALID', `\`${formatDataPath([...place.path, option])}\` ${message}`);
    const sparsity = raw.sparsity;
    if (sparsity === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath(place.path)}\` needs \`sparsity\` at ${place.at()}: the fraction of each layer's channels to remove, e.g. \`- prune-channels: { sparsity: 0.5 }\`.`,
      );
    }
    if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
      throw invalid(
        'sparsity',
        `must be a number in [0, 1) (got ${JSON.stringify(sparsity)}) at ${place.at('sparsity')}: the fraction of channels removed; 1 would remove every channel.`,
      );
    }
    const criterion = (raw.criterion ?? 'l1') as ChannelCriterion;
    if (!CRITERIA.includes(criterion))
      throw invalid(
        'criterion',
        `must be one of ${CRITERIA.join(', ')} (got ${JSON.stringify(raw.criterion)}) at ${place.at('criterion')}.`,
      );
    const scope = (raw.scope ?? 'layer') as 'layer' | 'global';
    if (scope !== 'layer' && scope !== 'global')
      throw invalid('scope', `must be layer or global (got ${JSON.stringify(raw.scope)}) at ${place.at('scope')}.`);
    const roundTo = raw.roundTo ?? 1;
    if (typeof roundTo !== 'number' || !Number.isInteger(roundTo) || roundTo < 1)
      throw invalid(
        'roundTo',
        `must be a positive integer (got ${JSON.stringify(raw.roundTo)}) at ${place.at('roundTo')}, e.g. 8 to keep channel counts multiples of 8.`,
      );
    const layers = raw.layers;
    if (
      layers !== undefined &&
      (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => typeof l === 'string' && l !== ''))
    ) {
      throw invalid(
        'layers',
        `must be a non-empty list of layer names (got ${JSON.stringify(layers)}) at ${place.at('layers')}.`,
      );
    }
    const options: PruneChannelsOptions = {
      sparsity,
      criterion,
      scope,
      roundTo,
      ...(layers === undefined ? {} : { layers: [...new Set(layers as string[])] }),
    };
    written.set(options, place);
    return options;
  },

  async apply(model, options, ctx) {
    return pruneModelChannels(model, options, ctx.place, (m) => ctx.progress(m), optionsByLayer(ctx, options));
  },
});

/** The pass itself, synchronous and engine-free (apply() only wraps it). `layerOptions`: a layer's options, null when an override skips it. */
export function pruneModelChannels(
  model: StoredModel,
  options: PruneChannelsOptions,
  place?: OptionsPlace,
  progress: (message: string) => void = () => {},
  layerOptions: LayerOptions<PruneChannelsOptions> = () => options,
): { model: StoredModel; stats: Record<string, unknown> } {
  const passAt = place ? ` (the prune-channels pass at ${place.at()})` : '';
  // The entry's options were written where the executor says; a layer's own options in an override block,
  // whose data path the place does not carry: name those by value and position.
  const optionText = (option: string, of: PruneChannelsOptions = options) => {
    if (of !== options)
      return `the override's \`${option}: ${String(of[option as keyof PruneChannelsOptions])}\`${written.has(of) ? ` at ${written.get(of)!.at(option)}` : ''}`;
    return place ? `\`${formatDataPath([...place.path, option])}\` (at ${place.at(option)})` : `\`${option}\``;
  };
  const topology = passTopology(model, 'prune-channels', passAt, 'whose layers cannot be rewired');
  const problems = weightProblems(topology, model.weightSpecs);
  if (problems.length) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `prune-channels cannot match the model's weights to its layers${passAt}: ${problems.slice(0, 3).join('; ')}. Export the model again with TF.js \`model.save()\`, or leave prune-channels out for this model.`,
    );
  }

  const analysis = analyse(topology);
  const { groups } = analysis;
  const weights = new WeightTable(decodeWeights(model, { share: true }));

  // Which groups: those of the named roots (each must be prunable), or every group (unprunable ones skipped);
  // then an override may skip a group or give it its own options.
  const skipped: SkippedGroup[] = [];
  const chosen: Group[] = [];
  const optionsOf = new Map<Group, PruneChannelsOptions>();
  const take = (g: Group, whyNot: (why: string) => void) => {
    const o = groupOptions(g, layerOptions);
    if (typeof o === 'string') {
      skipped.push({
        layers: g.roots,
        reason:
          g.roots.length === 1 ? SKIPPED_BY_OVERRIDE : `${o} is ${SKIPPED_BY_OVERRIDE}, and the group is pruned as one`,
      });
      return;
    }
    const why = criterionProblem(topology, g, o.criterion);
    if (why !== undefined) return whyNot(o === options ? why : `${why} (${optionText('criterion', o)})`);
    chosen.push(g);
    optionsOf.set(g, o);
  };
  if (options.layers !== undefined) {
    const named = new Set<Group>();
    for (const name of options.layers) {
      if (!topology.has(name)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${JSON.stringify(name)}, which the model does not have${suggest(name, topology.names())}; the layers prune-channels can prune are ${listNames(prunableRoots(groups))}.`,
        );
      }
      const cls = topology.className(name);
      const group = groups.find((g) => g.roots.includes(name));
      const refuse = (why: string): never => {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${name} (${cls}), whose channels prune-channels cannot remove: ${why}. Remove it from \`layers\`; the layers it can prune are ${listNames(prunableRoots(groups, options.criterion, topology))}.`,
        );
      };
      const blocked = group === undefined ? notARootWhy(topology, name, analysis) : group.blocked[0];
      if (blocked !== undefined) refuse(blocked);
      if (named.has(group!)) continue;
      named.add(group!);
      take(group!, refuse);
    }
  } else {
    for (const g of groups) {
      if (g.blocked.length) skipped.push({ layers: g.roots, reason: g.blocked[0]! });
      else take(g, (why) => skipped.push({ layers: g.roots, reason: why }));
    }
  }

  // Importance per channel of each chosen group, summed over its roots.
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

  // How many channels each group keeps: each group on its own (scope layer, or its own options from an
  // override), the others ranked together (scope global).
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
      const scale = options.criterion === 'bn-gamma' ? 1 : 1 / perChannelWeights(weights, g);
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

  const costBefore = modelCost(model.json);
  const layersStats: PrunedLayer[] = [];
  const groupStats: PrunedGroup[] = [];
  const keepOf = new Map<number, number[]>();
  for (const g of chosen) {
    let keep = keepCount.get(g)!;
    keep = Math.min(g.size, Math.ceil(keep / options.roundTo) * options.roundTo);
    const o = optionsOf.get(g)!;
    const override = o === options ? {} : { override: { sparsity: o.sparsity, criterion: o.criterion } };
    for (const root of g.roots)
      layersStats.push({
        layer: root,
        className: topology.className(root) as 'Conv2D' | 'Dense',
        channelsBefore: g.size,
        channelsAfter: keep,
        ...override,
      });
    if (keep === g.size) continue;
    const imp = importance.get(g)!;
    // The `keep` most important channels (the earlier one on a tie), in their original order.
    const order = Array.from({ length: g.size }, (_, c) => c).sort((a, b) => imp[b]! - imp[a]! || a - b);
    const kept = order.slice(0, keep).sort((a, b) => a - b);
    for (const s of g.spaces) keepOf.set(s, kept);
    if (g.roots.length > 1) {
      groupStats.push({
        layers: g.roots,
        merges: g.merges,
        channelsBefore: g.size,
        channelsAfter: keep,
        selection: `shared: the ${keep} channels with the largest ${o.criterion} importance summed over the ${g.roots.length} layers`,
      });
    }
  }

  const order = new Map(topology.names().map((n, i) => [n, i]));
  layersStats.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  const paramsBefore = paramCount(model);
  const cost = (c: ReturnType<typeof modelCost>) => ('unavailable' in c ? undefined : c);
  const before = cost(costBefore);
  const stats: Record<string, unknown> = {
    criterion: options.criterion,
    sparsity: options.sparsity,
    scope: options.scope,
    ...(options.roundTo > 1 ? { roundTo: options.roundTo } : {}),
    layersPruned: layersStats.filter((l) => l.channelsAfter < l.channelsBefore).length,
    channelsBefore: layersStats.reduce((n, l) => n + l.channelsBefore, 0),
    channelsAfter: layersStats.reduce((n, l) => n + l.channelsAfter, 0),
    layers: layersStats,
    groups: groupStats,
    skipped,
    paramsBefore,
    ...(before ? { macsBefore: before.macs, flopsBefore: before.flops } : {}),
  };
  // Nothing removed: the input passes through byte for byte (quantized weights stay quantized).
  if (keepOf.size === 0)
    return {
      model,
      stats: {
        ...stats,
        paramsAfter: paramsBefore,
        ...(before ? { macsAfter: before.macs, flopsAfter: before.flops } : {}),
      },
    };

  progress(`prune-channels: rewiring ${keepOf.size} channel spaces`);
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
  const out = rebuildModel(model, topology, weights);
  const after = cost(modelCost(out.json));
  return {
    model: out,
    stats: {
      ...stats,
      paramsAfter: paramCount(out),
      ...(before && after ? { macsAfter: after.macs, flopsAfter: after.flops } : {}),
    },
  };
}

// ---------------------------------------------------------------- analysis

interface Group {
  /** Conv2D / Dense layers whose output channels are the group's channels. */
  roots: string[];
  /** Canonical space ids of the group (one per root). */
  spaces: number[];
  merges: string[];
  size: number;
  /** Why the group cannot be pruned (empty: it can). */
  blocked: string[];
}

interface Analysis {
  groups: Group[];
  edits: Edit[];
  /** Canonical id of a space (after merges). */
  find(space: number): number;
  /** Layer → its output layout, for layers that carry a space. */
  layouts: Map<string, Layout>;
}

/** Walks the topology once: spaces, the groups merges make of them, the edits their readers need, and what blocks them. */
function analyse(topology: Topology): Analysis {
  const parent: number[] = [];
  const roots: string[][] = [];
  const blocked: string[][] = [];
  const merges: string[][] = [];
  const sizes: number[] = [];
  const find = (s: number): number => {
    while (parent[s] !== s) s = parent[s] = parent[parent[s]!]!;
    return s;
  };
  const union = (a: number, b: number) => {
    const [x, y] = [find(a), find(b)];
    if (x === y) return;
    parent[y] = x;
    roots[x]!.push(...roots[y]!);
    blocked[x]!.push(...blocked[y]!);
    merges[x]!.push(...merges[y]!);
  };
  const block = (s: number, why: string) => {
    const r = find(s);
    if (!blocked[r]!.includes(why)) blocked[r]!.push(why);
  };
  const layouts = new Map<string, Layout>();
  const edits: Edit[] = [];
  const shapes = topology.shapes();

  for (const l of topology.layers()) {
    const cls = l.className;
    const ins = l.inbound.map((n) => layouts.get(n));
    const tracked = ins.filter((x): x is Layout => x !== undefined);
    const blockAll = (why: string) => tracked.forEach((t) => block(t.space, why));
    const inp = ins[0];
    const c = l.config;
    const rule = channelRule(cls);
    if (rule === 'root') {
      if (inp) {
        if (cls === 'Conv2D') {
          if (inp.spatial > 0) blockAll(`it is read by ${l.name} (Conv2D) after a Flatten`);
          else edits.push({ kind: 'conv-in', layer: l.name, space: inp.space, factor: inp.factor });
        } else {
          edits.push({ kind: 'dense-in', layer: l.name, space: inp.space, factor: inp.factor, spatial: inp.spatial });
        }
      }
      const s = parent.length;
      parent.push(s);
      roots.push([l.name]);
      merges.push([]);
      blocked.push([]);
      const out = shapes.get(l.name);
      sizes.push(typeof out?.at(-1) === 'number' ? (out.at(-1) as number) : 0);
      if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') {
        blocked[s]!.push(`${l.name} is ${String(c.data_format)}`);
        if (inp) block(inp.space, `it is read by ${l.name}, which is ${String(c.data_format)}`);
      }
      if (typeof c.groups === 'number' && c.groups !== 1) {
        blocked[s]!.push(`${l.name} is a grouped convolution (groups ${c.groups})`);
        if (inp) block(inp.space, `it is read by the grouped convolution ${l.name}`);
      }
      if (out?.at(-1) === null || out === undefined)
        blocked[s]!.push(`the output shape of ${l.name} cannot be inferred`);
      layouts.set(l.name, { space: s, factor: 1, spatial: 0 });
      continue;
    }
    if (tracked.length === 0) continue; // reads the model input or untracked tensors only
    if (rule === 'depthwise' && inp && inp.spatial === 0) {
      const m = (c.depth_multiplier as number | undefined) ?? 1;
      edits.push({
        kind: 'depthwise',
        layer: l.name,
        space: inp.space,
        factor: inp.factor,
        multiplier: m,
        bias: c.use_bias !== false,
      });
      layouts.set(l.name, { space: inp.space, factor: inp.factor * m, spatial: 0 });
      continue;
    }
    if (rule === 'per-channel' && inp && inp.spatial === 0) {
      const rank = shapes.get(l.name)?.length;
      let axis: number | undefined;
      try {
        axis = rank === undefined ? undefined : batchNormAxis(l.name, c, rank);
      } catch {
        axis = undefined;
      }
      if (rank === undefined || axis !== rank - 1) {
        blockAll(`it is read by ${l.name} (${cls}), which normalises axis ${JSON.stringify(c.axis)}, not the channels`);
        continue;
      }
      edits.push({ kind: 'bn', layer: l.name, space: inp.space, factor: inp.factor });
      layouts.set(l.name, inp);
      continue;
    }
    if ((rule === 'keep' || rule === 'keep-flat') && inp) {
      if (cls === 'Activation' && c.activation === 'softmax') {
        blockAll(`it is read by ${l.name}, a softmax over the channels`);
        continue;
      }
      if (inp.spatial > 0 && rule !== 'keep-flat') {
        blockAll(`it is read by ${l.name} (${cls}) after a Flatten`);
        continue;
      }
      layouts.set(l.name, inp);
      continue;
    }
    if (rule === 'flatten' && inp) {
      const inner = shapes.get(l.inbound[0]!)?.slice(1, -1);
      if (inp.spatial > 0) layouts.set(l.name, inp);
      else if (inner === undefined || inner.some((d) => d === null))
        blockAll(`it is read by ${l.name} (Flatten) of an input of open shape`);
      else layouts.set(l.name, { ...inp, spatial: (inner as number[]).reduce((a, b) => a * b, 1) });
      continue;
    }
    if (rule === 'merge') {
      const inShapes = l.inbound.map((n) => shapes.get(n));
      const first = inShapes[0];
      const same =
        ins.every((x) => x !== undefined && x.factor === inp!.factor && x.spatial === 0) &&
        first !== undefined &&
        inShapes.every((s) => s !== undefined && s.length === first.length && s.at(-1) === first.at(-1));
      if (!same || !inp) {
        blockAll(`${l.name} (${cls}) combines it with a tensor whose channels are laid out differently`);
        continue;
      }
      for (const x of tracked) union(inp.space, x.space);
      const r = find(inp.space);
      merges[r]!.push(l.name);
      layouts.set(l.name, { ...inp, space: r });
      continue;
    }
    const why =
      rule === 'separable'
        ? `it is read by ${l.name} (${cls}), which prune-channels does not rewire`
        : rule === 'mix'
          ? `it is read by ${l.name} (${cls}), which mixes or scales channels by position`
          : `it is read by ${l.name} (${cls}), which prune-channels cannot rewire`;
    blockAll(why);
  }
  for (const o of topology.outputs()) {
    const t = layouts.get(o);
    if (t)
      block(
        t.space,
        channelRule(topology.className(o)) === 'root'
          ? `${o} is the model's output layer`
          : `it reaches the model's output ${o}`,
      );
  }

  const byRoot = new Map<number, Group>();
  for (let s = 0; s < parent.length; s++) {
    const r = find(s);
    let g = byRoot.get(r);
    if (!g) {
      g = { roots: roots[r]!, spaces: [], merges: merges[r]!, size: sizes[r]!, blocked: blocked[r]! };
      byRoot.set(r, g);
    }
    g.spaces.push(s);
  }
  const groups = [...byRoot.values()];
  for (const g of groups) {
    const sz = new Set(g.spaces.map((s) => sizes[s]!));
    if (sz.size > 1 && !g.blocked.length)
      g.blocked.push(`its layers ${g.roots.join(', ')} have different channel counts`);
  }
  return { groups, edits, find, layouts };
}

/**
 * The options a group is pruned with, or the root an override skips (a group's channels go together or not
 * at all). Roots that disagree: the smallest sparsity wins, as it removes least; the first root on a tie.
 */
function groupOptions(g: Group, layerOptions: LayerOptions<PruneChannelsOptions>): PruneChannelsOptions | string {
  let best: PruneChannelsOptions | undefined;
  for (const root of g.roots) {
    const o = layerOptions(root);
    if (o === null) return root;
    if (best === undefined || o.sparsity < best.sparsity) best = o;
  }
  return best!;
}

/** Why `name` is not a root of any group. */
function notARootWhy(topology: Topology, name: string, analysis: Analysis): string {
  const rule = channelRule(topology.className(name));
  if (rule === 'depthwise') {
    const t = analysis.layouts.get(name);
    const root = t && analysis.groups.find((g) => g.spaces.includes(t.space))?.roots[0];
    return `a depthwise convolution's channels follow its input, so it is pruned with the layer that feeds it${root ? ` (name ${root} instead)` : ''}`;
  }
  if (rule === 'per-channel')
    return 'a batch norm is pruned with the Conv2D or Dense layer before it; name that layer instead';
  return 'prune-channels removes output channels of Conv2D and Dense layers only';
}

/** Why the criterion cannot rank the group, or undefined. */
function criterionProblem(topology: Topology, g: Group, criterion: ChannelCriterion): string | undefined {
  if (criterion !== 'bn-gamma') return undefined;
  for (const root of g.roots) {
    const bn = followingBatchNorm(topology, root);
    if (bn === undefined)
      return `criterion bn-gamma needs a BatchNormalization right after ${root}, which has none; use criterion l1 or l2`;
    if (topology.config(bn).scale === false)
      return `criterion bn-gamma needs gamma, and ${bn} after ${root} has scale: false; use criterion l1 or l2`;
  }
  return undefined;
}

function followingBatchNorm(topology: Topology, root: string): string | undefined {
  const consumers = topology.consumers(root);
  return consumers.length === 1 && topology.className(consumers[0]!) === 'BatchNormalization'
    ? consumers[0]
    : undefined;
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
  const k = read(root, 'kernel');
  if (criterion === 'l1') for (let i = 0; i < k.length; i++) out[i % n]! += Math.abs(k[i]!);
  else {
    for (let i = 0; i < k.length; i++) out[i % n]! += k[i]! * k[i]!;
    for (let c = 0; c < n; c++) out[c] = Math.sqrt(out[c]!);
  }
  return out;
}

/** Kernel weights per output channel summed over a group's roots (to compare l1/l2 across layers). */
function perChannelWeights(weights: WeightTable, g: Group): number {
  return g.roots.reduce((n, r) => n + weights.require(r, 'kernel').values.length / g.size, 0);
}

/** Keeps the entries `keep` of axis `axis` (negative from the end) of weight layer/key. */
function sliceWeight(weights: WeightTable, layer: string, key: string, axis: number, keep: readonly number[]): void {
  const w = weights.require(layer, key);
  const shape = w.spec.shape;
  const a = axis < 0 ? shape.length + axis : axis;
  const values = weights.floats(layer, key);
  const dim = shape[a]!;
  const outer = shape.slice(0, a).reduce((x, y) => x * y, 1);
  const inner = shape.slice(a + 1).reduce((x, y) => x * y, 1);
  const out = new Float32Array(outer * keep.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const k of keep) {
      const from = (i * dim + k) * inner;
      out.set(values.subarray(from, from + inner), o);
      o += inner;
    }
  }
  const next = [...shape];
  next[a] = keep.length;
  weights.set(layer, key, out, next);
}

function prunableRoots(groups: readonly Group[], criterion?: ChannelCriterion, topology?: Topology): string[] {
  return groups
    .filter(
      (g) =>
        g.blocked.length === 0 &&
        (criterion === undefined || topology === undefined || criterionProblem(topology, g, criterion) === undefined),
    )
    .flatMap((g) => g.roots);
}

function listNames(names: readonly string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown} and ${names.length - 12} more` : shown;
}
