/** The lowrank pass's options: their type, and how a recipe entry's (or an override block's) raw options resolve. */
import type { RankRule } from '../../algorithms/svd.js';
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import type { OptionsPlace } from '../define.js';

export type LowrankOptions = RankRule & {
  /** Exactly these layers (names as in model.json); undefined: every Dense and Conv2D layer. */
  layers?: string[];
};

export const RULES = ['rank', 'ratio', 'energy'] as const;

/**
 * Where each set of resolved options was written (not in the options: they are hashed): the pass entry's,
 * or for a layer's own options the place the override resolver gave, whose `at` points at the block that
 * set each option. apply() errors about a layer's rank read it from here.
 */
export const written = new WeakMap<LowrankOptions, OptionsPlace>();

export function resolveLowrankOptions(raw: Record<string, unknown>, place: OptionsPlace): LowrankOptions {
  const name = `\`${formatDataPath(place.path)}\``;
  const given = RULES.filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      given.length === 0
        ? `${name} needs a rank rule at ${place.at()}; set exactly one of \`rank: r\` (a fixed rank), \`ratio: 0.25\` (fraction of each layer's parameters kept) or \`energy: 0.95\` (fraction of the squared singular values kept), e.g. \`- lowrank: { ratio: 0.25 }\`.`
        : `${name} sets ${given.join(' and ')} at ${place.at(given[1])}; keep exactly one of rank, ratio and energy.`,
    );
  }
  const rule = given[0]!;
  const value = raw[rule];
  const bad = (what: string): never => {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath([...place.path, rule])}\` must be ${what} (got ${JSON.stringify(value)}) at ${place.at(rule)}.`,
    );
  };
  if (typeof value !== 'number' || !Number.isFinite(value))
    bad(rule === 'rank' ? 'a positive integer' : 'a number between 0 and 1');
  const v = value as number;
  if (rule === 'rank' && (!Number.isInteger(v) || v < 1))
    bad('a positive integer (the rank of each factorisation, below min(in, out) of every layer it is applied to)');
  if (rule !== 'rank' && !(v > 0 && v < 1))
    bad(
      `a number greater than 0 and less than 1 (the fraction of ${rule === 'ratio' ? "each layer's parameters" : 'the squared singular values'} kept)`,
    );
  const layers = raw.layers;
  if (
    layers !== undefined &&
    (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => typeof l === 'string' && l !== ''))
  ) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath([...place.path, 'layers'])}\` must be a non-empty list of layer names (got ${JSON.stringify(layers)}) at ${place.at('layers')}.`,
    );
  }
  const options = {
    [rule]: v,
    ...(layers === undefined ? {} : { layers: [...(layers as string[])] }),
  } as LowrankOptions;
  written.set(options, place);
  return options;
}

/** Just the rank rule of a set of options (without `layers`). */
export function rankRule(o: LowrankOptions): RankRule {
  return 'rank' in o ? { rank: o.rank } : 'ratio' in o ? { ratio: o.ratio } : { energy: o.energy };
}
