/** The prune-channels pass's options: their type, and how a recipe entry's (or an override block's) raw options resolve. */
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import type { OptionsPlace } from '../define.js';

export type ChannelCriterion = 'l1' | 'l2' | 'bn-gamma';

export interface PruneChannelsOptions {
  /** Fraction of each group's channels removed (scope layer), or of all candidate channels (scope global), in [0, 1). */
  sparsity: number;
  criterion: ChannelCriterion;
  scope: 'layer' | 'global';
  /** Kept channel counts rounded up to a multiple of this (1: no rounding). */
  roundTo: number;
  /** Exactly these root layers (and the groups they belong to); undefined: every prunable group. */
  layers?: string[];
}

const CRITERIA: readonly ChannelCriterion[] = ['l1', 'l2', 'bn-gamma'];

/** Where each set of resolved options was written (for a layer's own options: the override block's place). */
export const written = new WeakMap<PruneChannelsOptions, OptionsPlace>();

/** The defaults of the options that have one (sparsity has none). */
export const DEFAULTS: Readonly<Pick<PruneChannelsOptions, 'criterion' | 'scope' | 'roundTo'>> = {
  criterion: 'l1',
  scope: 'layer',
  roundTo: 1,
};

export function resolvePruneChannelsOptions(raw: Record<string, unknown>, place: OptionsPlace): PruneChannelsOptions {
  const invalid = (option: string, message: string) =>
    new McbError('MCB_RECIPE_INVALID', `\`${formatDataPath([...place.path, option])}\` ${message}`);
  const sparsity = raw.sparsity;
  if (sparsity === undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(place.path)}\` needs \`sparsity\` at ${place.at()}: the fraction of each layer's channels to remove, e.g. \`- prune-channels: { sparsity: 0.5 }\`.`,
    );
  }
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
    throw invalid(
      'sparsity',
      `must be a number in [0, 1) (got ${JSON.stringify(sparsity)}) at ${place.at('sparsity')}: the fraction of channels removed; 1 would remove every channel.`,
    );
  }
  const criterion = (raw.criterion ?? DEFAULTS.criterion) as ChannelCriterion;
  if (!CRITERIA.includes(criterion))
    throw invalid(
      'criterion',
      `must be one of ${CRITERIA.join(', ')} (got ${JSON.stringify(raw.criterion)}) at ${place.at('criterion')}.`,
    );
  const scope = (raw.scope ?? DEFAULTS.scope) as 'layer' | 'global';
  if (scope !== 'layer' && scope !== 'global')
    throw invalid('scope', `must be layer or global (got ${JSON.stringify(raw.scope)}) at ${place.at('scope')}.`);
  const roundTo = raw.roundTo ?? DEFAULTS.roundTo;
  if (typeof roundTo !== 'number' || !Number.isInteger(roundTo) || roundTo < 1)
    throw invalid(
      'roundTo',
      `must be a positive integer (got ${JSON.stringify(raw.roundTo)}) at ${place.at('roundTo')}, e.g. 8 to keep channel counts multiples of 8.`,
    );
  const layers = raw.layers;
  if (
    layers !== undefined &&
    (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => typeof l === 'string' && l !== ''))
  ) {
    throw invalid(
      'layers',
      `must be a non-empty list of layer names (got ${JSON.stringify(layers)}) at ${place.at('layers')}.`,
    );
  }
  const options: PruneChannelsOptions = {
    sparsity,
    criterion,
    scope,
    roundTo,
    ...(layers === undefined ? {} : { layers: [...new Set(layers as string[])] }),
  };
  written.set(options, place);
  return options;
}
