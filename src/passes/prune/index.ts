/**
 * prune: magnitude pruning of the kernels, one-shot or along a schedule while training, each kernel with its
 * layer's options. What it does, for users: ./docs.ts. The definition (options: ./options.ts) is here; the
 * implementation (./apply.ts) loads on first apply.
 */
import { definePass } from '../define.js';
import { readsLabels, teacherModels } from '../teacher/index.js';
import { DEFAULTS, resolvePruneOptions, scheduleOnGraph, TRAINING_OPTIONS, type PruneOptions } from './options.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export { parsePattern, type PruneOptions, type PruneSchedule } from './options.js';
export type { LayerSparsity } from './weights.js';

export const prune = definePass<PruneOptions>({
  meta: {
    name: 'prune',
    version: 1,
    summary: 'set the smallest-magnitude kernel weights to zero (per layer, global, N:M, or gradually while training)',
    docs: DOCS,
    schema,
    perLayer: ['sparsity', 'pattern'],
    // resolveOptions refuses a pattern with a sparsity, scope, schedule or training option: a block's pattern
    // replaces those of the entry for its layers, and a block's sparsity the entry's pattern.
    exclusiveOptions: [
      ['sparsity', 'pattern'],
      ...['scope', 'schedule', ...TRAINING_OPTIONS].map((k) => ['pattern', k]),
    ],
    models: ['layers', 'graph'],
    sensitivity: { option: 'sparsity', candidates: [0.5, 0.75, 0.9] },
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  // Gradual pruning trains between pruning steps, on labels or from a teacher; one-shot pruning reads no data.
  needs: (options) => (options.schedule ? ['train'] : []),
  labels: {
    reads: (options) => (options.schedule && readsLabels(options) ? ['train'] : []),
    why: 'with a schedule trains on the labels of data.train while it prunes (teacherWeight below 1 mixes them in)',
    labelFreeHint:
      'remove `teacherWeight` (without labels a schedule learns from its teacher alone), or prune in one shot (no `schedule`)',
  },
  models: (options) => (options.schedule ? teacherModels(options) : {}),
  dependsOnBackend: (options) => options.schedule !== undefined,
  resolveOptions(raw, place, input) {
    const options = resolvePruneOptions(raw, place, input);
    if (options.schedule && input?.kind === 'graph') scheduleOnGraph(place.at('schedule'), input.modelAt);
    return options;
  },

  async apply(model, options, ctx) {
    return (await import('./apply.js')).applyPrune(model, options, ctx);
  },
});
