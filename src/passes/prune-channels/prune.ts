/** The prune-channels pass on a stored model: analyse, select, rank, rewire, and the stats. */
import { McbError } from '../../errors.js';
import {
  decodeWeights,
  modelKind,
  paramCount,
  passTopology,
  rebuildModel,
  weightProblems,
  WeightTable,
  type StoredModel,
} from '../../model/index.js';
import { modelCost } from '../../metrics/index.js';
import { formatDataPath } from '../../recipe/index.js';
import type { LayerOptions, OptionsPlace } from '../define.js';
import { analyse } from './analyse.js';
import { pruneGraphChannels } from './graph-prune.js';
import { written, type PruneChannelsOptions } from './options.js';
import { pruneStats, type PrunedGroup, type PrunedLayer } from './pruned.js';
import { groupImportance, keepCounts, keptChannels, perChannelWeights } from './rank.js';
import { rewire } from './rewrite.js';
import { selectGroups, type OptionText } from './select.js';

export type { PrunedGroup, PrunedLayer } from './pruned.js';

/** The pass itself, synchronous and engine-free (apply() only wraps it). `layerOptions`: a layer's options, null when an override skips it. */
export function pruneModelChannels(
  model: StoredModel,
  options: PruneChannelsOptions,
  place?: OptionsPlace,
  progress: (message: string) => void = () => {},
  layerOptions: LayerOptions<PruneChannelsOptions> = () => options,
): { model: StoredModel; stats: Record<string, unknown> } {
  const passAt = place ? ` (the prune-channels pass at ${place.at()})` : '';
  // The entry's options were written where the executor says; a layer's own options in an override block,
  // whose data path the place does not carry: name those by value and position.
  const optionText: OptionText = (option, of = options) => {
    if (of !== options)
      return `the override's \`${option}: ${String(of[option as keyof PruneChannelsOptions])}\`${written.has(of) ? ` at ${written.get(of)!.at(option)}` : ''}`;
    return place ? `\`${formatDataPath([...place.path, option])}\` (at ${place.at(option)})` : `\`${option}\``;
  };
  if (modelKind(model.json) === 'graph')
    return pruneGraphChannels(model, options, passAt, optionText, progress, layerOptions);
  const topology = passTopology(model, 'prune-channels', passAt, 'whose layers cannot be rewired');
  const problems = weightProblems(topology, model.weightSpecs);
  if (problems.length) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `prune-channels cannot match the model's weights to its layers${passAt}: ${problems.slice(0, 3).join('; ')}. Export the model again with TF.js \`model.save()\`, or leave prune-channels out for this model.`,
    );
  }

  const analysis = analyse(topology);
  const weights = new WeightTable(decodeWeights(model, { share: true }));
  const { chosen, optionsOf, skipped } = selectGroups(topology, analysis, options, layerOptions, optionText);
  const importance = groupImportance(topology, weights, chosen, optionsOf, passAt);
  const keepCount = keepCounts(
    (g) => perChannelWeights(weights, g),
    chosen,
    optionsOf,
    importance,
    options,
    optionText,
    skipped,
  );

  const costBefore = modelCost(model.json);
  const layersStats: PrunedLayer[] = [];
  const groupStats: PrunedGroup[] = [];
  const keepOf = new Map<number, number[]>();
  for (const g of chosen) {
    let keep = keepCount.get(g)!;
    keep = Math.min(g.size, Math.ceil(keep / options.roundTo) * options.roundTo);
    const o = optionsOf.get(g)!;
    const override = o === options ? {} : { override: { sparsity: o.sparsity, criterion: o.criterion } };
    for (const root of g.roots)
      layersStats.push({
        layer: root,
        className: topology.className(root) as 'Conv2D' | 'Dense',
        channelsBefore: g.size,
        channelsAfter: keep,
        ...override,
      });
    if (keep === g.size) continue;
    const kept = keptChannels(importance.get(g)!, g.size, keep);
    for (const s of g.spaces) keepOf.set(s, kept);
    if (g.roots.length > 1) {
      groupStats.push({
        layers: g.roots,
        merges: g.merges,
        channelsBefore: g.size,
        channelsAfter: keep,
        selection: `shared: the ${keep} channels with the largest ${o.criterion} importance summed over the ${g.roots.length} layers`,
      });
    }
  }

  const order = new Map(topology.names().map((n, i) => [n, i]));
  layersStats.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  const paramsBefore = paramCount(model);
  const cost = (c: ReturnType<typeof modelCost>) => ('unavailable' in c ? undefined : c);
  const before = cost(costBefore);
  const stats: Record<string, unknown> = {
    ...pruneStats(options, layersStats, groupStats, skipped, paramsBefore),
    ...(before ? { macsBefore: before.macs, flopsBefore: before.flops } : {}),
  };
  // Nothing removed: the input passes through byte for byte (quantized weights stay quantized).
  if (keepOf.size === 0)
    return {
      model,
      stats: {
        ...stats,
        paramsAfter: paramsBefore,
        ...(before ? { macsAfter: before.macs, flopsAfter: before.flops } : {}),
      },
    };

  progress(`prune-channels: rewiring ${keepOf.size} channel spaces`);
  rewire(topology, weights, analysis, chosen, keepOf);
  const out = rebuildModel(model, topology, weights);
  const after = cost(modelCost(out.json));
  return {
    model: out,
    stats: {
      ...stats,
      paramsAfter: paramCount(out),
      ...(before && after ? { macsAfter: after.macs, flopsAfter: after.flops } : {}),
    },
  };
}
