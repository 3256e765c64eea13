/**
 * fold-batchnorm's implementation, on a layers model (here) or a graph model (./graph.ts). Loaded by the
 * definition's apply() (./index.ts) on first use, so planning never loads it.
 */
import { McbError } from '../../errors.js';
import {
  batchNormAxis,
  decodeWeights,
  outputChannelCount,
  paramCount,
  passTopology,
  rebuildModel,
  Topology,
  TopologyError,
  WeightTable,
  readGraph,
  type StoredModel,
  weightRole,
} from '../../model/index.js';
import { recordedWeights } from '../constraints.js';
import { foldGraphBatchNorms } from './graph.js';
import { foldKernel } from './plan.js';
import type { FoldedBatchNorm, SkippedBatchNorm } from './stats.js';
import {
  optionsByLayer,
  type LayerOptions,
  type OptionsPlace,
  type PassContext,
  type PassResult,
  SKIPPED_BY_OVERRIDE,
} from '../define.js';
import { asText } from '../../util/text.js';

export function applyFoldBatchnorm(model: StoredModel, options: object, ctx: PassContext): PassResult {
  const graph = readGraph(model.json);
  if (graph) return foldGraphBatchNorms(model, graph, optionsByLayer(ctx, options));
  return foldBatchNorms(model, ctx.place, optionsByLayer(ctx, options));
}

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
