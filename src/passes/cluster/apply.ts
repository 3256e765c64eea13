/**
 * cluster's implementation: each kernel fitted (./fit.ts) and written (./write.ts) with its layer's options.
 * Loaded by the definition's apply() (./index.ts) on first use, so planning never loads it.
 */
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
  type StoredModel,
} from '../../model/index.js';
import { withRecordedWeights } from '../constraints.js';
import { optionsByLayer, type PassContext, type PassResult } from '../define.js';
import { fitKernel, Memory } from './fit.js';
import type { ClusterOptions } from './options.js';
import { writeKernel, type ClusterLayerStats, type KernelFit } from './write.js';

export function applyCluster(model: StoredModel, options: ClusterOptions, ctx: PassContext): PassResult {
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
}

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
