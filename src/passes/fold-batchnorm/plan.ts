/** fold-batchnorm at planning: which layers a fold leaves (./index.ts's layersAfter), and what folds into what. */
import { layerClass, type ModelLayer, type WeightRole, weightRole } from '../../model/index.js';
import type { LayerOptions } from '../define.js';

/** The kernel a BN after a layer of this class folds into (Conv2D, DepthwiseConv2D, Dense: the catalogue says). */
export function foldKernel(className: string | undefined): WeightRole | undefined {
  const key = className === undefined ? undefined : layerClass(className)?.foldsBatchNormInto;
  return key === undefined ? undefined : weightRole(className!, key);
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
