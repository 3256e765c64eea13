/**
 * `bits: auto, candidates: [8, 4, 2]` in the schema: an option a pass takes per layer may be `auto` (the
 * accuracy-driven search chooses it per layer, src/search/), and then `candidates` must be values of that
 * option. The loader validates recipes with `auto` as written, then hands the search to src/recipe/search-spec.ts.
 */
import type { JsonSchema, OptionsSchema } from '../passes/index.js';
import { DEFAULT_MAX_TRIALS } from '../recipe/index.js';

/** The keys a pass entry with an `auto` option may add. */
export function searchKeysSchema(): Record<string, JsonSchema> {
  return {
    candidates: {
      description:
        'With an `auto` option: the values the search tries for it, most conservative first (at least two, all different, each a valid value of that option).',
      type: 'array',
      minItems: 2,
      uniqueItems: true,
      items: { anyOf: [{ type: 'number' }, { type: 'string' }] },
    },
    budget: {
      description: "With an `auto` option: what the search must keep, `thresholds` (the recipe's gate; the default).",
      const: 'thresholds',
    },
    maxTrials: {
      description: `With an \`auto\` option: full builds the search tries at most (default ${DEFAULT_MAX_TRIALS}; the sensitivity scan's trials are not counted).`,
      type: 'integer',
      minimum: 1,
    },
    maxSeconds: {
      description: 'With an `auto` option: stop trying after this many seconds (the best passing plan so far is kept).',
      type: 'integer',
      minimum: 1,
    },
  };
}

/** The options schema with `auto` allowed for each of `options`, and `candidates` checked against the option's schema. */
export function withAuto(schema: OptionsSchema, options: readonly string[]): OptionsSchema {
  const properties: Record<string, JsonSchema> = { ...schema.properties };
  for (const o of options) {
    const { description, ...value } = schema.properties[o]!;
    properties[o] = {
      ...(description === undefined ? {} : { description }),
      anyOf: [value, { const: 'auto', description: 'Chosen per layer by the search, from `candidates`.' }],
    };
  }
  return {
    ...schema,
    properties,
    allOf: options.map((o) => {
      const { description: _, default: _d, ...value } = schema.properties[o]!;
      return {
        type: 'object',
        if: { type: 'object', properties: { [o]: { const: 'auto' } }, required: [o] },
        then: { type: 'object', properties: { candidates: { type: 'array', items: value } } },
      };
    }),
  };
}
