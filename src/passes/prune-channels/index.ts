/**
 * prune-channels: structured pruning, removing whole Conv2D filters and Dense units and rewiring every layer
 * that reads them (docs/passes.md, from ./docs.ts). Pure weight arithmetic, no TF.js: options (./options.ts),
 * the channel spaces and the groups merges make of them (./analyse.ts), which groups (./select.ts), how many
 * channels and which (./rank.ts), the surgery (./rewrite.ts), the pass on a stored model (./prune.ts). Graph
 * models: the same over the frozen graph's nodes (./graph-analyse.ts with ./graph-nodes.ts and ./graph-flatten.ts,
 * ./graph-rewrite.ts, ./graph-prune.ts). This definition loads none of them until the pass is applied.
 */
import { definePass, optionsByLayer } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { DEFAULTS, resolvePruneChannelsOptions, type PruneChannelsOptions } from './options.js';
import { schema } from './schema.js';

export type { ChannelCriterion, PruneChannelsOptions } from './options.js';
export type { PrunedGroup, PrunedLayer } from './prune.js';
export type { SkippedGroup } from './select.js';

export const pruneChannels = definePass<PruneChannelsOptions>({
  meta: {
    name: 'prune-channels',
    version: 1,
    summary: 'remove whole Conv2D filters / Dense units by importance and rewire the layers that read them',
    docs: DOCS,
    schema,
    perLayer: ['sparsity', 'criterion'],
    models: ['layers', 'graph'],
    sensitivity: { option: 'sparsity', candidates: [0.25, 0.5, 0.75] },
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  resolveOptions: resolvePruneChannelsOptions,

  // The implementation (./prune.ts and what it uses) loads on first apply: planning never needs it.
  async apply(model, options, ctx) {
    const { pruneModelChannels } = await import('./prune.js');
    return pruneModelChannels(model, options, ctx.place, (m) => ctx.progress(m), optionsByLayer(ctx, options));
  },
});
