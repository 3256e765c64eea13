/**
 * fold-batchnorm: folds each BatchNormalization that directly follows a Conv2D, DepthwiseConv2D or Dense into
 * that layer's kernel and bias, W' = W·s and b' = s·(b − mean) + beta with s = gamma / sqrt(variance + epsilon),
 * and removes it (docs/passes.md, from ./docs.ts). Pure weight arithmetic on the decoded arrays (float64,
 * rounded once to float32), no TF.js.
 */
import { McbError } from '../../errors.js';
import {
  batchNormAxis,
  decodeWeights,
  layerClass,
  outputChannelCount,
  paramCount,
  passTopology,
  rebuildModel,
  Topology,
  TopologyError,
  WeightTable,
  readGraph,
  type ModelLayer,
  type StoredModel,
  type WeightRole,
  weightRole,
} from '../../model/index.js';
import { recordedWeights } from '../constraints.js';
import { foldGraphBatchNorms } from './graph.js';
import type { FoldedBatchNorm, SkippedBatchNorm } from './stats.js';
import { definePass, optionsByLayer, type LayerOptions, type OptionsPlace, SKIPPED_BY_OVERRIDE } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';
import { asText } from '../../util/text.js';

export type FoldBatchNormOptions = Record<string, never>;

export type { FoldedBatchNorm, SkippedBatchNorm } from './stats.js';

/** The kernel a BN after a layer of this class folds into (Conv2D, DepthwiseConv2D, Dense: the catalogue says). */
function foldKernel(className: string | undefined): WeightRole | undefined {
  const key = className === undefined ? undefined : layerClass(className)?.foldsBatchNormInto;
  return key === undefined ? undefined : weightRole(className!, key);
}

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
    const graph = readGraph(model.json);
    if (graph) return foldGraphBatchNorms(model, graph, optionsByLayer(ctx, options));
    return foldBatchNorms(model, ctx.place, optionsByLayer(ctx, options));
  },
});

/** The pass itself, synchronous and engine-free (apply() only wraps it). `layerOptions`: null for a layer an override skips. */
export function foldBatchNorms(
  model: StoredModel,
  place?: OptionsPlace,
  layerOptions: LayerOptions<unknown> = () => ({}),
): { model: StoredModel; stats: Record<string, unknown> } {
  const where = place ? ` (the fold-batchnorm pass at ${place.at()})` : '';
  const topology = passTopology(
    model,
    'fold-batchnorm',
    where,
    'whose batch norms tensorflowjs_converter has already folded',
  );
  const layersBefore = topology.names().length;
  const bns = topology.layers().filter((l) => l.className === 'BatchNormalization');
  const folded: FoldedBatchNorm[] = [];
  const skipped: SkippedBatchNorm[] = [];
  const paramsBefore = paramCount(model);
  if (bns.length === 0) {
    // Nothing to do: the input passes through byte for byte (quantized weights stay quantized).
    return {
      model,
      stats: {
        layersBefore,
        layersAfter: layersBefore,
        batchNormsFolded: 0,
        batchNormsSkipped: 0,
        folded,
        skipped,
        paramsBefore,
        paramsAfter: paramsBefore,
        note: 'the model has no BatchNormalization layers: nothing to fold',
      },
    };
  }

  const weights = new WeightTable(decodeWeights(model, { share: true }));
  for (const bn of bns) {
    // The structural reason first: an override only shows as the reason when it is what kept the BN.
    const reason = whyNotFoldable(topology, bn.name);
    if (reason !== undefined) {
      skipped.push({ layer: bn.name, reason });
      continue;
    }
    const producer = topology.inbound(bn.name)[0]!;
    if (layerOptions(bn.name) === null || layerOptions(producer) === null) {
      skipped.push({ layer: bn.name, reason: SKIPPED_BY_OVERRIDE });
      continue;
    }
    const cls = topology.className(producer);
    const role = foldKernel(cls)!;
    const kernelKey = role.key;
    const kernel = weights.require(producer, kernelKey);
    const k = weights.floats(producer, kernelKey);
    const channels = outputChannelCount(role, kernel.spec.shape);
    const config = topology.config(bn.name);
    const read = (key: string, fallback: number): Float64Array => {
      // scale: false has no gamma (1), center: false no beta (0); the moving statistics are always stored.
      const unless = weightRole('BatchNormalization', key)?.unless;
      const present = unless === undefined || config[unless] !== false;
      const v = present ? weights.floats(bn.name, key) : undefined;
      if (v && v.length !== channels)
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight ${bn.name}/${key} has ${v.length} values but ${producer} outputs ${channels} channels${where}; the model's weights do not match its layers.`,
        );
      return v ? Float64Array.from(v) : new Float64Array(channels).fill(fallback);
    };
    const gamma = read('gamma', 1);
    const beta = read('beta', 0);
    const mean = read('moving_mean', 0);
    const variance = read('moving_variance', 1);
    const epsilon = typeof config.epsilon === 'number' ? config.epsilon : 1e-3;
    const scale = gamma.map((g, c) => g / Math.sqrt(variance[c]! + epsilon));

    // Output channel of flat kernel element i is i mod channels for all three layouts: [.., in, out] for
    // Conv2D and Dense, [kh, kw, in, multiplier] (channel in·multiplier + m) for DepthwiseConv2D.
    const newKernel = new Float32Array(k.length);
    for (let i = 0; i < k.length; i++) newKernel[i] = k[i]! * scale[i % channels]!;
    const hadBias = topology.config(producer).use_bias !== false;
    const bias = hadBias ? weights.floats(producer, 'bias') : new Float32Array(channels);
    const newBias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) newBias[c] = scale[c]! * (bias[c]! - mean[c]!) + beta[c]!;

    weights.set(producer, kernelKey, newKernel, kernel.spec.shape);
    weights.set(producer, 'bias', newBias, [channels]);
    if (!hadBias) topology.updateConfig(producer, { use_bias: true });
    weights.deleteLayer(bn.name);
    topology.removeLayer(bn.name);
    folded.push({ batchNorm: bn.name, into: producer, className: cls, addedBias: !hadBias });
  }

  const stats = {
    layersBefore,
    layersAfter: topology.names().length,
    batchNormsFolded: folded.length,
    batchNormsSkipped: skipped.length,
    folded,
    skipped,
  };
  if (folded.length === 0) return { model, stats: { ...stats, paramsBefore, paramsAfter: paramsBefore } };

  let json = topology.toModelJson(model.json);
  // A folded kernel is rescaled per channel, so a clustered one no longer holds its few shared values: it
  // leaves the record, and a later finetune trains it freely. Pruned zeros stay zero (0·s = 0) and stay recorded.
  const into = new Set(folded.map((f) => f.into));
  const clustered = recordedWeights(model.json, 'clusteredWeights');
  const unshared = clustered.filter((n) => into.has(n.split('/').at(-2) ?? ''));
  if (unshared.length) {
    const meta = json.userDefinedMetadata as { mcbuild: Record<string, unknown> };
    json = {
      ...json,
      userDefinedMetadata: {
        ...meta,
        mcbuild: { ...meta.mcbuild, clusteredWeights: clustered.filter((n) => !unshared.includes(n)) },
      },
    };
  }
  const out = rebuildModel({ ...model, json }, topology, weights);
  return {
    model: out,
    stats: {
      ...stats,
      paramsBefore,
      paramsAfter: paramCount(out),
      ...(unshared.length ? { unclustered: unshared } : {}),
    },
  };
}

/**
 * Planning: the layers after the fold, from names, classes and inbound alone. A BN is predicted folded when
 * the pass's checks that the list can show pass: one inbound layer of a foldable class, read by nothing but
 * the BN, and neither layer skipped by an override; its consumers then read the producer. What the list
 * cannot show is taken in the usual layout (the producer has no activation, is channels_last and is not
 * also a model output; the BN normalises the channels), as in every builtin architecture. This is the
 * one prediction that is not a superset: a model that breaks those keeps more BNs than predicted, so a later
 * pass's override block whose patterns match only such BNs would be refused at planning. Predicting no fold
 * at all (the safe superset) would instead show every folded BN in `explain` and accept patterns for layers
 * that are gone.
 */
export function predictFolds(layers: readonly ModelLayer[], layerOptions: LayerOptions<unknown>): ModelLayer[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const readers = new Map<string, number>();
  for (const l of layers) for (const from of l.inbound ?? []) readers.set(from, (readers.get(from) ?? 0) + 1);
  const into = new Map<string, string>();
  for (const l of layers) {
    if (l.className !== 'BatchNormalization' || l.inbound?.length !== 1) continue;
    const producer = byName.get(l.inbound[0]!);
    if (!producer || !foldKernel(producer.className) || readers.get(producer.name) !== 1) continue;
    if (layerOptions(l.name) === null || layerOptions(producer.name) === null) continue;
    into.set(l.name, producer.name);
  }
  return layers
    .filter((l) => !into.has(l.name))
    .map((l) => (l.inbound?.some((n) => into.has(n)) ? { ...l, inbound: l.inbound.map((n) => into.get(n) ?? n) } : l));
}

/** Why folding this BN would change the function (or could not be done), or undefined when it folds. */
function whyNotFoldable(topology: Topology, bn: string): string | undefined {
  const inbound = topology.inbound(bn);
  if (inbound.length !== 1)
    return inbound.length === 0 ? 'it reads the model input directly' : `it has ${inbound.length} inputs`;
  const producer = inbound[0]!;
  const cls = topology.className(producer);
  if (!foldKernel(cls)) return `it follows ${producer} (${cls}), not a Conv2D, DepthwiseConv2D or Dense`;
  const pc = topology.config(producer);
  const activation = pc.activation ?? 'linear';
  if (activation !== 'linear' && activation !== null)
    return `${producer} applies a ${asText(activation)} activation before it`;
  if (pc.data_format !== undefined && pc.data_format !== null && pc.data_format !== 'channels_last')
    return `${producer} is ${asText(pc.data_format)}`;
  const others = topology.consumers(producer).filter((c) => c !== bn);
  if (others.length) return `${producer}'s output is also read by ${others.join(', ')}`;
  if (topology.isOutput(producer)) return `${producer}'s output is also a model output`;
  const config = topology.config(bn);
  try {
    // The rank of the producer's output; when shapes upstream cannot be inferred (a layer class mcbuild does
    // not know), only the default axis -1 is known to be the channels.
    const rank = topology.shapes().get(producer)?.length;
    const axis = batchNormAxis(bn, config, rank ?? 0);
    if (rank === undefined ? axis !== -1 : axis !== rank - 1)
      return `it normalises axis ${JSON.stringify(config.axis)}, not ${producer}'s channels (the last axis)`;
  } catch (e) {
    if (e instanceof TopologyError) return e.message.replace(/\.$/, '');
    throw e;
  }
  return undefined;
}
