/**
 * Which channel groups prune-channels prunes, and with which options: those of the named roots (each must be
 * prunable: otherwise an error naming why), or every group (unprunable ones listed as skipped with the
 * reason); then an override may skip a group or give it its own options.
 */
import { McbError } from '../../errors.js';
import { suggest } from '../../recipe/index.js';
import type { Topology } from '../../model/index.js';
import { SKIPPED_BY_OVERRIDE, type LayerOptions } from '../define.js';
import { channelRule, type Analysis, type Group } from './analyse.js';
import type { ChannelCriterion, PruneChannelsOptions } from './options.js';

export interface SkippedGroup {
  /** The root layers of the group (one unless merges tie several). */
  layers: string[];
  reason: string;
}

/** How an option is named in errors: the entry's by its path and position, an override's by its value and block. */
export type OptionText = (option: string, of?: PruneChannelsOptions) => string;

/** What choosing groups needs to know of the model kind: its names, and what it can say of one. */
export interface GroupNaming {
  /** How the model's pieces are called in messages. */
  noun: 'layer' | 'node';
  /** The class or op of a name in `layers`; throws the message for a name the model does not have. */
  kindOf(name: string): string;
  /** Why a name that roots no group cannot be pruned, and what to name instead. */
  notARootWhy(name: string): string;
  /** The roots it can prune, listed for a refusal. */
  prunable(): string;
  /** Why a group cannot be ranked with these options (its criterion), or undefined. */
  criterionProblem(g: Group, o: PruneChannelsOptions): string | undefined;
}

/** The groups to prune (in model order, or `layers` order), the options of each, and the groups left alone. */
export function chooseGroups(
  groups: readonly Group[],
  options: PruneChannelsOptions,
  layerOptions: LayerOptions<PruneChannelsOptions>,
  optionText: OptionText,
  naming: GroupNaming,
): { chosen: Group[]; optionsOf: Map<Group, PruneChannelsOptions>; skipped: SkippedGroup[] } {
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
    const why = naming.criterionProblem(g, o);
    if (why !== undefined) return whyNot(o === options ? why : `${why} (${optionText('criterion', o)})`);
    chosen.push(g);
    optionsOf.set(g, o);
  };
  if (options.layers === undefined) {
    for (const g of groups) {
      if (g.blocked.length) skipped.push({ layers: g.roots, reason: g.blocked[0]! });
      else take(g, (why) => skipped.push({ layers: g.roots, reason: why }));
    }
    return { chosen, optionsOf, skipped };
  }
  const { noun } = naming;
  const named = new Set<Group>();
  for (const name of options.layers) {
    const kind = naming.kindOf(name);
    const group = groups.find((g) => g.roots.includes(name));
    const refuse = (why: string): never => {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${optionText('layers')} names ${noun} ${name} (${kind}), whose channels prune-channels cannot remove: ${why}. Remove it from \`layers\`; the ${noun}s it can prune are ${naming.prunable()}.`,
      );
    };
    const blocked = group === undefined ? naming.notARootWhy(name) : group.blocked[0];
    if (blocked !== undefined) refuse(blocked);
    if (named.has(group!)) continue;
    named.add(group!);
    take(group!, refuse);
  }
  return { chosen, optionsOf, skipped };
}

/** chooseGroups for a layers model. */
export function selectGroups(
  topology: Topology,
  analysis: Analysis,
  options: PruneChannelsOptions,
  layerOptions: LayerOptions<PruneChannelsOptions>,
  optionText: OptionText,
): { chosen: Group[]; optionsOf: Map<Group, PruneChannelsOptions>; skipped: SkippedGroup[] } {
  const { groups } = analysis;
  return chooseGroups(groups, options, layerOptions, optionText, {
    noun: 'layer',
    kindOf(name) {
      if (!topology.has(name))
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${JSON.stringify(name)}, which the model does not have${suggest(name, topology.names())}; the layers prune-channels can prune are ${listNames(prunableRoots(groups))}.`,
        );
      return topology.className(name);
    },
    notARootWhy: (name) => notARootWhy(topology, name, analysis),
    prunable: () => listNames(prunableRoots(groups, options.criterion, topology)),
    criterionProblem: (g, o) => criterionProblem(topology, g, o.criterion),
  });
}

/**
 * The options a group is pruned with, or the root an override skips (a group's channels go together or not
 * at all). Roots that disagree: the smallest sparsity wins, as it removes least; the first root on a tie.
 */
export function groupOptions(
  g: Group,
  layerOptions: LayerOptions<PruneChannelsOptions>,
): PruneChannelsOptions | string {
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

export function followingBatchNorm(topology: Topology, root: string): string | undefined {
  const consumers = topology.consumers(root);
  return consumers.length === 1 && topology.className(consumers[0]!) === 'BatchNormalization'
    ? consumers[0]
    : undefined;
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

export function listNames(names: readonly string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown} and ${names.length - 12} more` : shown;
}
