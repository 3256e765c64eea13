/**
 * `quantize: { bits: auto, candidates: [8, 4, 2], budget: thresholds }`: an option left for the
 * accuracy-driven search (src/search/) to choose per layer. The schema admits `auto` for the options a pass
 * takes per layer and checks every candidate; after validation the search's keys are taken out of the pass's
 * options, which keep the first candidate, the most conservative: where the search starts and what `plan` and
 * `validate` show.
 */
import { McbError } from '../errors.js';
import { formatPosition, type RecipeSource } from './source.js';
import type { SearchSpec } from './types.js';

const SEARCH_KEYS = ['candidates', 'budget', 'maxTrials', 'maxSeconds'] as const;
/** A search's default trial budget: enough for a few layers × candidates on small models. */
export const DEFAULT_MAX_TRIALS = 24;

/** Removes search settings from `data.passes` (in place) and returns them by pass index. */
export function extractSearch(data: unknown, source: RecipeSource): Map<number, SearchSpec> {
  const found = new Map<number, SearchSpec>();
  const passes = (data as { passes?: unknown } | null)?.passes;
  if (!Array.isArray(passes)) return found;
  passes.forEach((entry, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return;
    const [name, options] = Object.entries(entry as Record<string, unknown>)[0] ?? [];
    if (name === undefined || typeof options !== 'object' || options === null || Array.isArray(options)) return;
    const o = options as Record<string, unknown>;
    const at = (...p: (string | number)[]) => formatPosition(source.positionOf(['passes', index, name, ...p]));
    const auto = Object.keys(o).filter((k) => o[k] === 'auto');
    const stray = SEARCH_KEYS.filter((k) => k in o);
    if (auto.length === 0) {
      if (stray.length)
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`passes[${index}].${name}.${stray[0]}\` at ${at(stray[0]!)} belongs to a search, but no option of this pass is \`auto\`; write e.g. \`bits: auto, candidates: [8, 4, 2]\`, or remove it.`,
        );
      return;
    }
    if (auto.length > 1)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`passes[${index}].${name}\` sets both ${auto.join(' and ')} to auto at ${at(auto[1]!)}; the search chooses one option per layer. Fix all but one.`,
      );
    if (found.size > 0)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`passes[${index}].${name}.${auto[0]}\` at ${at(auto[0]!)} is a second \`auto\`; a recipe searches one pass at a time. Fix the other pass's value, or search it in a separate recipe.`,
      );
    const option = auto[0]!;
    const candidates = o.candidates;
    if (
      !Array.isArray(candidates) ||
      candidates.length < 2 ||
      !candidates.every((c) => typeof c === 'number' || typeof c === 'string') ||
      new Set(candidates).size !== candidates.length
    ) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`passes[${index}].${name}.candidates\` at ${at('candidates')} must list at least two distinct values for ${option}, most conservative first (e.g. \`candidates: [8, 4, 2]\`); got ${JSON.stringify(candidates)}.`,
      );
    }
    const budget = o.budget ?? 'thresholds';
    if (budget !== 'thresholds')
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`passes[${index}].${name}.budget\` at ${at('budget')} must be \`thresholds\` (the recipe's gate is what the search must keep); got ${JSON.stringify(budget)}.`,
      );
    const positive = (k: 'maxTrials' | 'maxSeconds') => {
      const v = o[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1))
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`passes[${index}].${name}.${k}\` at ${at(k)} must be a positive whole number; got ${JSON.stringify(v)}.`,
        );
      return v;
    };
    const maxTrials = positive('maxTrials') ?? DEFAULT_MAX_TRIALS;
    const maxSeconds = positive('maxSeconds');
    for (const k of SEARCH_KEYS) delete o[k];
    o[option] = candidates[0];
    found.set(index, {
      option,
      candidates,
      budget: 'thresholds',
      maxTrials,
      ...(maxSeconds === undefined ? {} : { maxSeconds }),
    });
  });
  return found;
}

/**
 * The search chooses per-layer values itself; an override block says what a layer gets, so `auto` there is a
 * mistake. Checked before the schema, whose message ("must be one of …") would not say where a search goes.
 */
export function refuseAutoInOverrides(data: unknown, source: RecipeSource): void {
  const blocks = (data as { overrides?: unknown } | null)?.overrides;
  if (!Array.isArray(blocks)) return;
  blocks.forEach((block, b) => {
    if (typeof block !== 'object' || block === null) return;
    for (const [pass, options] of Object.entries(block as Record<string, unknown>)) {
      if (typeof options !== 'object' || options === null) continue;
      const auto = Object.entries(options as Record<string, unknown>).find(([, v]) => v === 'auto');
      if (auto) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`overrides[${b}].${pass}.${auto[0]}\` is auto at ${formatPosition(source.positionOf(['overrides', b, pass, auto[0]]))}; a search is written in the pass entry (\`passes: - ${pass}: { ${auto[0]}: auto, candidates: [...] }\`), and overrides give layers fixed values (or \`skip\` to keep a layer out of the search's pass).`,
        );
      }
    }
  });
}
