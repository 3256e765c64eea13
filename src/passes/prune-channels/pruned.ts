/** What prune-channels reports of each root it pruned and each group it pruned as one (layers and graph models). */
import type { ChannelCriterion, PruneChannelsOptions } from './options.js';

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

/** The statistics both model kinds report, before the counts only one of them has (FLOPs, params after). */
export function pruneStats(
  options: PruneChannelsOptions,
  layers: PrunedLayer[],
  groups: PrunedGroup[],
  skipped: unknown[],
  paramsBefore: number,
): Record<string, unknown> {
  return {
    criterion: options.criterion,
    sparsity: options.sparsity,
    scope: options.scope,
    ...(options.roundTo > 1 ? { roundTo: options.roundTo } : {}),
    layersPruned: layers.filter((l) => l.channelsAfter < l.channelsBefore).length,
    channelsBefore: layers.reduce((n, l) => n + l.channelsBefore, 0),
    channelsAfter: layers.reduce((n, l) => n + l.channelsAfter, 0),
    layers,
    groups,
    skipped,
    paramsBefore,
  };
}
