/**
 * lowrank: replaces Dense and Conv2D layers by two thinner layers whose kernels are the factors of a
 * truncated SVD of their kernels (docs/passes.md, from ./docs.ts). Pure JS: options (./options.ts), which
 * layers and the layers after it (./plan.ts, ./select.ts), the surgery on one layer (./factor.ts), the pass
 * on a stored model (./decompose.ts, ./graph.ts), which load on first apply: planning needs only this definition.
 */
import { readGraph } from '../../model/index.js';
import { definePass, optionsByLayer } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { resolveLowrankOptions, type LowrankOptions } from './options.js';
import { layersAfterDecomposing } from './plan.js';
import { schema } from './schema.js';

export type { DecomposedLayer } from './factor.js';
export type { LowrankOptions } from './options.js';
export { layersAfterDecomposing } from './plan.js';
export type { SkippedLayer } from './select.js';

export const lowrank = definePass<LowrankOptions>({
  meta: {
    name: 'lowrank',
    version: 1,
    summary: 'replace Dense / Conv2D layers by two thinner ones from a truncated SVD of their kernels',
    docs: DOCS,
    schema,
    perLayer: ['rank', 'ratio', 'energy'],
    exclusiveOptions: [['rank', 'ratio', 'energy']],
    models: ['layers', 'graph'],
    sensitivity: { option: 'ratio', candidates: [0.5, 0.25, 0.125] },
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions: resolveLowrankOptions,

  layersAfter(layers, options, layerOptions) {
    return layersAfterDecomposing(layers, options, layerOptions);
  },

  async apply(model, options, ctx) {
    const [{ decompose }, { decomposeGraph }] = await Promise.all([import('./decompose.js'), import('./graph.js')]);
    const graph = readGraph(model.json);
    if (graph)
      return decomposeGraph(model, graph, options, ctx.place, optionsByLayer(ctx, options), (m) => ctx.progress(m));
    return decompose(model, options, ctx.place, (m) => ctx.progress(m), optionsByLayer(ctx, options));
  },
});
