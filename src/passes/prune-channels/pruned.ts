/** What prune-channels reports of each root it pruned and each group it pruned as one (layers and graph models). */
import type { ChannelCriterion } from './options.js';

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
