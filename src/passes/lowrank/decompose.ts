/** The lowrank pass on a stored model: select the layers, factor each, rebuild the model, and the stats. */
import { McbError } from '../../errors.js';
import {
  decodeWeights,
  paramCount,
  passTopology,
  rebuildModel,
  weightProblems,
  WeightTable,
  type DecodedWeight,
  type StoredModel,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { lowrankStats } from './stats.js';
import { SKIPPED_BY_OVERRIDE, type LayerOptions, type OptionsPlace } from '../define.js';
import { factorLayer, releaseRecords, withFactors, type DecomposedLayer } from './factor.js';
import { written, type LowrankOptions } from './options.js';
import { fitFixedRanks, selectLayers, type WhereWritten } from './select.js';

/** The pass itself, synchronous and engine-free (apply() only wraps it). `layerOptions`: a layer's options, null when an override skips it. */
export function decompose(
  model: StoredModel,
  options: LowrankOptions,
  place?: OptionsPlace,
  progress: (message: string) => void = () => {},
  layerOptions: LayerOptions<LowrankOptions> = () => options,
): { model: StoredModel; stats: Record<string, unknown> } {
  // The entry's options were written where the executor says (their object may be a copy); a layer's own
  // options where the resolver that made them said.
  const where: WhereWritten = (option, of = options) => {
    const p = (of === options ? place : undefined) ?? written.get(of);
    return p && { path: formatDataPath([...p.path, option]), at: p.at(option) };
  };
  const optionText = (option: string) => {
    const p = where(option);
    return p ? `\`${p.path}\` at ${p.at}` : `\`${option}\``;
  };
  const passAt = place ? ` (the lowrank pass at ${place.at()})` : '';

  const topology = passTopology(model, 'lowrank', passAt, 'which has no layers to replace');
  const problems = weightProblems(topology, model.weightSpecs);
  if (problems.length) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `lowrank cannot match the model's weights to its layers${passAt}: ${problems.slice(0, 3).join('; ')}. Export the model again with TF.js \`model.save()\`, or leave lowrank out for this model.`,
    );
  }

  // Which layers: the named ones (each must exist and be decomposable), or every Dense and Conv2D.
  const all = topology.layers();
  const selection = selectLayers(topology, model, options, optionText);
  const { skipped, explicit } = selection;
  const weights = new WeightTable(decodeWeights(model, { share: true }));

  // Each layer's rank rule (an override block's, or the entry's); a layer an override skips stays whole.
  const ruleOf = new Map<string, LowrankOptions>();
  let candidates = selection.candidates.filter((name) => {
    const o = layerOptions(name);
    if (o === null) skipped.push({ layer: name, className: topology.className(name), reason: SKIPPED_BY_OVERRIDE });
    else ruleOf.set(name, o);
    return o !== null;
  });
  candidates = fitFixedRanks(topology, weights, candidates, ruleOf, options, explicit, where, skipped);

  const decomposed: DecomposedLayer[] = [];
  const replaced = new Map<string, DecodedWeight[]>();
  for (const name of candidates) {
    const done = factorLayer(topology, weights, name, ruleOf.get(name)!, options, passAt, progress);
    if ('skip' in done) {
      skipped.push({ layer: name, className: topology.className(name), reason: done.skip });
      continue;
    }
    replaced.set(name, done.weights);
    decomposed.push(done.decomposed);
  }

  const order = new Map(all.map((l, i) => [l.name, i]));
  skipped.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  const paramsBefore = paramCount(model);
  const stats = lowrankStats(options, decomposed, skipped, paramsBefore);
  // Nothing replaced: the input passes through byte for byte (quantized weights stay quantized).
  if (decomposed.length === 0) return { model, stats: { ...stats, paramsAfter: paramsBefore } };

  const { json, released } = releaseRecords(topology.toModelJson(model.json), new Set(decomposed.map((d) => d.layer)));
  const out = rebuildModel({ ...model, json }, topology, withFactors(weights, replaced));
  return {
    model: out,
    stats: {
      ...stats,
      paramsAfter: paramCount(out),
      ...(released.length ? { released: [...new Set(released)].sort() } : {}),
    },
  };
}
