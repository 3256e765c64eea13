/**
 * cluster: weight sharing (Han et al., Deep Compression; TF-MOT's weight clustering). The values of each
 * Dense, Conv2D and DepthwiseConv2D kernel are grouped by k-means into K clusters and every weight is
 * replaced by its cluster's centroid, so a kernel holds at most K distinct values (plus 0: weights that are
 * exactly zero — pruned — stay zero and are not clustered unless `preserveZeros: false`). Biases,
 * batch-norm parameters and integer weights are untouched. A later finetune keeps the assignment and
 * trains the centroids (src/passes/constraints.ts, clusterConstraint).
 *
 * The k-means is 1-D (src/algorithms/kmeans1d/): the values are sorted once and each Lloyd iteration works
 * on ranges of them, O(K log n) instead of O(nK) (fit.ts). Writing the centroids back needs no search per
 * value either (write.ts). The pass is pure JS: no TF.js, no backend.
 *
 * Version 2: a kernel of more than 2^20 values (not counting kept zeros) into at most 32 clusters is fitted
 * on 2^18 evenly spaced quantiles of its values, and each value then goes to its nearest centroid
 * (fitSample): about a sixth less time on large models, with errors within a few per cent of a fit on all
 * values. Other kernels give exactly what version 1 gave.
 *
 * Per-layer overrides (src/plan/layers.ts) give a kernel its layer's clusters / bits, init, iterations, seed
 * and preserveZeros: k-means runs per kernel anyway. A kernel an override skips is passed through like a bias
 * (not clustered, and not recorded in `clusteredWeights`, so a later finetune moves it freely).
 */
import { McbError } from '../../errors.js';
import {
  alignedView,
  compressedWeight,
  compressedWeightByKey,
  decodeWeights,
  encodeWeights,
  layerClasses,
  layerOfWeight,
  weightKey,
  weightLayer,
  type DecodedWeight,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { withRecordedWeights } from '../constraints.js';
import { definePass, optionsByLayer } from '../define.js';
import { fitKernel, Memory } from './fit.js';
import { written, type ClusterOptions } from './options.js';
import { writeKernel, type ClusterLayerStats, type KernelFit } from './write.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export type { ClusterOptions } from './options.js';
export type { ClusterLayerStats } from './write.js';

export const cluster = definePass<ClusterOptions>({
  meta: {
    name: 'cluster',
    version: 2,
    summary: 'k-means weight sharing per kernel: at most K distinct values (Deep Compression)',
    docs: DOCS,
    schema,
    // All of them act on one kernel's k-means; `skip` leaves a kernel unclustered.
    perLayer: ['clusters', 'bits', 'init', 'iterations', 'seed', 'preserveZeros'],
    // A block's `bits: 2` replaces the entry's `clusters: 16` (and the other way round) instead of clashing with it.
    exclusiveOptions: [['clusters', 'bits']],
    models: ['layers', 'graph'],
    sensitivity: { option: 'clusters', candidates: [64, 16, 4] },
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    if (raw.clusters !== undefined && raw.bits !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} sets both clusters (${String(raw.clusters)}) and bits (${String(raw.bits)}) at ${place.at('bits')}; keep one of them (bits: b means clusters: 2^b).`,
      );
    }
    if (raw.clusters === undefined && raw.bits === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} needs the number of clusters at ${place.at()}; set \`clusters: K\` (2..65536) or \`bits: b\` (1..16, K = 2^b), e.g. \`- cluster: { bits: 4 }\`.`,
      );
    }
    const option = raw.clusters !== undefined ? 'clusters' : 'bits';
    const value = raw[option];
    const [lo, hi] = option === 'clusters' ? [2, 65536] : [1, 16];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, option])}\` must be an integer from ${lo} to ${hi} (got ${JSON.stringify(value)}) at ${place.at(option)}.`,
      );
    }
    const options: ClusterOptions = {
      clusters: option === 'clusters' ? value : 2 ** value,
      init: (raw.init as ClusterOptions['init'] | undefined) ?? 'kmeans++',
      iterations: (raw.iterations as number | undefined) ?? 30,
      seed: (raw.seed as number | undefined) ?? 1,
      preserveZeros: (raw.preserveZeros as boolean | undefined) ?? true,
    };
    written.set(options, { option, at: place.at(option), path: formatDataPath([...place.path, option]) });
    return options;
  },

  async apply(model, options, ctx) {
    const optionsFor = optionsByLayer(ctx, options);
    const classes = layerClasses(model.json);
    const layers: ClusterLayerStats[] = [];
    let sumSq = 0;
    let clustered = 0;
    // The input's float32 values are only read (views of its bytes). First every kernel's k-means is fitted,
    // with the output buffer as scratch memory (it is written last, and its pages are touched anyway), then
    // each kernel's values are replaced by their centroids straight into the output.
    const weights = decodeWeights(model, { share: true });
    const skippedLayers = new Set<string>();
    const kernels = weights.flatMap((w) => {
      const layer = clusteredLayer(w, classes);
      if (layer === undefined) return [];
      // Each kernel with its layer's options; one an override skips stays as it is, like a bias.
      const named = layerOfWeight(w.spec.name, classes);
      const o = optionsFor(named);
      if (o === null) {
        skippedLayers.add(named);
        return [];
      }
      return [{ w, layer, values: w.values as Float32Array, options: o }];
    });
    const clusteredWeights = new Map(kernels.map((k) => [k.w, k.options]));
    const fits = new Map<DecodedWeight, KernelFit>();
    const fitAll = (scratchBytes: Uint8Array) => {
      const memory = new Memory(scratchBytes);
      for (const { w, layer, values, options: o } of kernels) {
        ctx.progress(`clustering ${w.spec.name}`);
        fits.set(w, fitKernel(w.spec.name, layer, values, o, o === options ? ctx.place : 'override', memory));
      }
    };
    const json = withRecordedWeights(
      model.json,
      'clusteredWeights',
      kernels.map((k) => k.w.spec.name),
    );
    const out = encodeWeights(
      json,
      weights,
      (w) => {
        const o = clusteredWeights.get(w);
        if (o === undefined) return undefined;
        const values = w.values as Float32Array;
        return {
          byteLength: values.byteLength,
          write: (into) => {
            const { view, flush } = alignedView(into, Float32Array, values.length);
            const stats = writeKernel(values, view, fits.get(w)!, o.preserveZeros);
            flush();
            layers.push(stats);
            sumSq += stats.meanSquaredError * values.length;
            clustered += values.length;
            return w.spec;
          },
        };
      },
      fitAll,
    );
    return {
      model: out,
      stats: {
        clusters: options.clusters,
        kernelsClustered: layers.length,
        weightsClustered: clustered,
        meanSquaredError: clustered ? sumSq / clustered : 0,
        layers,
        ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
      },
    };
  },
});

/**
 * The layer name when `w` is the weight the catalogue lets cluster compress in its layer's class (a Dense's or
 * Conv2D's kernel, a DepthwiseConv2D's depthwise_kernel), float32 only.
 */
function clusteredLayer(w: DecodedWeight, classes: Map<string, string> | undefined): string | undefined {
  if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) return undefined;
  const layer = weightLayer(w.spec.name);
  if (layer === undefined) return undefined;
  const key = weightKey(w.spec.name);
  // No topology to read the class from (a graph model): go by the Keras weight names alone.
  const kernel = classes
    ? compressedWeight(classes.get(layer) ?? '', 'cluster')
    : compressedWeightByKey(key, 'cluster');
  return kernel?.key === key ? layer : undefined;
}
