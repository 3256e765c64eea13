/**
 * fold-batchnorm: folds each BatchNormalization that directly follows a Conv2D, DepthwiseConv2D or Dense into
 * that layer's kernel and bias, W' = W·s and b' = s·(b − mean) + beta with s = gamma / sqrt(variance + epsilon),
 * and removes it (docs/passes.md, from ./docs.ts). Pure weight arithmetic on the decoded arrays (float64,
 * rounded once to float32), no TF.js.
 * The definition and its planning (./plan.ts) are here; the implementation (./apply.ts) loads on first apply.
 */
import { definePass } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { predictFolds } from './plan.js';
import { schema } from './schema.js';

export type FoldBatchNormOptions = Record<string, never>;

export type { FoldedBatchNorm, SkippedBatchNorm } from './stats.js';

export const foldBatchnorm = definePass<FoldBatchNormOptions>({
  meta: {
    name: 'fold-batchnorm',
    version: 1,
    summary: 'fold BatchNormalization layers into the Conv2D / DepthwiseConv2D / Dense before them',
    docs: DOCS,
    schema,
    perLayer: [],
    models: ['layers', 'graph'],
    stats: STATS,
    mayBeEmpty: 'no BatchNormalization layer follows a layer it can fold into (a model without batch normalization)',
  },
  defaultOptions: {},
  resolveOptions() {
    return {};
  },

  layersAfter(layers, _options, layerOptions) {
    return predictFolds(layers, layerOptions);
  },

  async apply(model, options, ctx) {
    return (await import('./apply.js')).applyFoldBatchnorm(model, options, ctx);
  },
});
