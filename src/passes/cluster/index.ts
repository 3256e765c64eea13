/**
 * cluster: weight sharing per kernel by 1-D k-means (src/algorithms/kmeans1d/), fitted in ./fit.ts and written
 * in ./write.ts, each kernel with its layer's options. What it does, for users: ./docs.ts.
 */
import { McbError } from '../../errors.js';
import {
  roundToStoredGrid,
  alignedView,
  compressedWeight,
  compressedWeightByKey,
  decodeWeights,
  encodeWeights,
  layerClasses,
  layerOfWeight,
  readGraph,
  weightKey,
  weightLayer,
  type DecodedWeight,
  type GraphView,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { withRecordedWeights } from '../constraints.js';
import { definePass, optionsByLayer } from '../define.js';
import { fitKernel, Memory } from './fit.js';
import { written, type ClusterOptions } from './options.js';
import { writeKernel, type ClusterLayerStats, type KernelFit } from './write.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';
import { asText } from '../../util/text.js';

export type { ClusterOptions } from './options.js';
export type { ClusterLayerStats } from './write.js';

/** The options' defaults (`clusters` or `bits` has none: a recipe sets one of them). */
const DEFAULTS = {
  init: 'kmeans++',
  iterations: 30,
  seed: 1,
  preserveZeros: true,
} as const satisfies Partial<ClusterOptions>;

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
  defaultOptions: DEFAULTS,
  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    if (raw.clusters !== undefined && raw.bits !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} sets both clusters (${asText(raw.clusters)}) and bits (${asText(raw.bits)}) at ${place.at('bits')}; keep one of them (bits: b means clusters: 2^b).`,
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
      init: (raw.init as ClusterOptions['init'] | undefined) ?? DEFAULTS.init,
      iterations: (raw.iterations as number | undefined) ?? DEFAULTS.iterations,
      seed: (raw.seed as number | undefined) ?? DEFAULTS.seed,
      preserveZeros: (raw.preserveZeros as boolean | undefined) ?? DEFAULTS.preserveZeros,
    };
    written.set(options, { option, at: place.at(option), path: formatDataPath([...place.path, option]) });
    return options;
  },

  async apply(model, options, ctx) {
    const optionsFor = optionsByLayer(ctx, options);
    const classes = layerClasses(model.json);
    // A graph model's kernels are found by the ops that read them, its layers are those nodes.
    const graph = readGraph(model.json);
    const layers: ClusterLayerStats[] = [];
    let sumSq = 0;
    let clustered = 0;
    // The input's float32 values are only read (views of its bytes). First every kernel's k-means is fitted,
    // with the output buffer as scratch memory (it is written last, and its pages are touched anyway), then
    // each kernel's values are replaced by their centroids straight into the output.
    const weights = decodeWeights(model, { share: true });
    const skippedLayers = new Set<string>();
    const kernels = weights.flatMap((w, i) => {
      const layer = clusteredLayer(w, graph ?? classes);
      if (layer === undefined) return [];
      // Each kernel with its layer's options; one an override skips stays as it is, like a bias.
      const named = graph ? layer : layerOfWeight(w.spec.name, classes);
      const o = optionsFor(named);
      if (o === null) {
        skippedLayers.add(named);
        return [];
      }
      return [{ w, layer, values: w.values as Float32Array, options: o, stored: model.weightSpecs[i]! }];
    });
    const clusteredWeights = new Map(kernels.map((k) => [k.w, k.options]));
    const fits = new Map<DecodedWeight, KernelFit>();
    const fitAll = (scratchBytes: Uint8Array) => {
      const memory = new Memory(scratchBytes);
      for (const { w, layer, values, options: o, stored } of kernels) {
        ctx.progress(`clustering ${w.spec.name}`);
        const fit = fitKernel(w.spec.name, layer, values, o, o === options ? ctx.place : 'override', memory);
        // A kernel the source stored quantized (uint8 from tensorflowjs_converter): centroids on its grid, so
        // the runner keeps that form (src/model/stored-form.ts) instead of writing float32.
        roundToStoredGrid(stored, fit.centroids);
        fits.set(w, fit);
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
function clusteredLayer(w: DecodedWeight, classes: Map<string, string> | GraphView | undefined): string | undefined {
  if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) return undefined;
  if (classes !== undefined && !(classes instanceof Map)) return classes.compressed(w.spec.name, 'cluster')?.layer;
  const layer = weightLayer(w.spec.name);
  if (layer === undefined) return undefined;
  const key = weightKey(w.spec.name);
  // No topology to read the class from (a graph model): go by the Keras weight names alone.
  const kernel = classes
    ? compressedWeight(classes.get(layer) ?? '', 'cluster')
    : compressedWeightByKey(key, 'cluster');
  return kernel?.key === key ? layer : undefined;
}
