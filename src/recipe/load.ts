import { resolve } from 'node:path';
import { McbError } from '../errors.js';
import type { RecipeLanguage } from './language.js';
import { applySet, dropReplacedAlternatives, readMerged } from './merge.js';
import {
  cartesian,
  checkMatrixUse,
  findPlaceholder,
  MAX_VARIANTS,
  pickVariant,
  readMatrix,
  substitute,
  variantName,
} from './matrix.js';
import { normalise, type RawRecipe } from './normalise.js';
import { extractSearch, refuseAutoInOverrides } from './search-spec.js';
import { formatPosition, MergedSource, type RecipeSource } from './source.js';
import type { Recipe } from './types.js';
import { validateRecipeData } from './validate.js';
import { checkLimits, isPlainObject } from './yaml.js';

export interface LoadOptions {
  /** `--set path=value` assignments (`passes[2].quantize.bits=4`), applied in order after `extends`. */
  set?: readonly string[];
  /** For a recipe with a `matrix`: load only the variant of this name ("bits=8,sparsity=0.5"). */
  variant?: string;
  /** Let `output` name a folder outside the project root (`--allow-outside`); refused by default. */
  allowOutside?: boolean;
}

/** A recipe file as loaded: one recipe per `matrix` combination (exactly one without a matrix). */
export interface RecipeSet {
  file: string;
  variants: Recipe[];
  /** The matrix as written (keys in order), when there is one. */
  matrix?: Record<string, unknown[]>;
  /** `all`: the build passes when every variant passes; `best`: when at least one does. */
  gate: 'all' | 'best';
}

/** Reads, parses, validates and normalises a recipe. Every failure is an McbError with file:line:col. */
export async function loadRecipe(file: string, language: RecipeLanguage, opts: LoadOptions = {}): Promise<Recipe> {
  const set = await loadRecipeSet(file, language, opts);
  if (set.variants.length !== 1) {
    throw new McbError(
      'MCB_USAGE',
      `${file} has a matrix of ${set.variants.length} variants; this command takes one: add --variant with one of ${set.variants.map((v) => JSON.stringify(v.variant!.name)).join(', ')}.`,
    );
  }
  return set.variants[0]!;
}

/**
 * Reads a recipe and the files it `extends`, applies `--set`, and expands its `matrix` into one validated
 * recipe per combination. Errors point at the file (or command-line argument) where the bad value was written.
 */
export async function loadRecipeSet(
  file: string,
  language: RecipeLanguage,
  opts: LoadOptions = {},
): Promise<RecipeSet> {
  const path = resolve(file);
  const outside = opts.allowOutside ? { allowOutside: true } : {};
  const merged = await readMerged(path, file, []);
  for (const assignment of opts.set ?? []) applySet(merged, path, assignment);
  if (opts.set?.length) dropReplacedAlternatives(merged.data, opts.set, language);
  const source = new MergedSource(path, merged.owner);
  // --set values are YAML too: the same limits as a file's.
  if (opts.set?.length) checkLimits(merged.data, source);
  const data = merged.data;
  if (data === null || data === undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${path}: the recipe is empty. Start from recipes/mnist-mlp.yaml, or run \`mcbuild --help\`.`,
    );
  }
  const top = isPlainObject(data) ? data : undefined;
  const gate = top?.gate === 'best' ? 'best' : 'all';
  const matrix = top ? readMatrix(top.matrix, source) : undefined;
  if (!matrix) {
    const placeholder = findPlaceholder(data, []);
    if (placeholder) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${formatPosition(source.positionOf(placeholder))} uses \`\${{ matrix.… }}\`, but the recipe has no \`matrix\`; add one (e.g. \`matrix: { bits: [8, 4] }\`) or write the value.`,
      );
    }
    if (top?.gate !== undefined)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`gate\` at ${formatPosition(source.positionOf(['gate']))} decides how a matrix's variants pass together, but the recipe has no \`matrix\`; remove it.`,
      );
    if (opts.variant !== undefined)
      throw new McbError(
        'MCB_USAGE',
        `--variant ${opts.variant}: ${file} has no \`matrix\`, so it has no variants; leave --variant out.`,
      );
    checkModelKeys(data, source);
    refuseAutoInOverrides(data, source);
    validateRecipeData(data, source, language.schema);
    const search = extractSearch(data, source);
    return {
      file: path,
      variants: [normalise(data as RawRecipe, { source, files: merged.files, search, language, ...outside })],
      gate,
    };
  }
  checkMatrixUse(data, matrix, source);
  let combos = cartesian(matrix);
  if (combos.length > MAX_VARIANTS) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `the matrix at ${formatPosition(source.positionOf(['matrix']))} makes ${combos.length} variants; at most ${MAX_VARIANTS} are allowed. Split the sweep into several recipes.`,
    );
  }
  if (opts.variant !== undefined) combos = [pickVariant(combos, opts.variant, file)];
  const variants = combos.map((values) => {
    const name = variantName(values);
    const substituted = substitute(data, values, [], source);
    try {
      checkModelKeys(substituted, source);
      refuseAutoInOverrides(substituted, source);
      validateRecipeData(substituted, source, language.schema);
      const search = extractSearch(substituted, source);
      return normalise(substituted as RawRecipe, {
        source,
        files: merged.files,
        search,
        language,
        variant: { name, values },
        ...outside,
      });
    } catch (e) {
      // The value may come from the matrix: say which variant, so the bad combination can be found.
      if (e instanceof McbError)
        throw new McbError(
          e.code,
          `in variant ${name} (values from \`matrix\` at ${formatPosition(source.positionOf(['matrix']))}): ${e.message}`,
        );
      throw e;
    }
  });
  return { file: path, variants, matrix, gate };
}

/**
 * `model` takes exactly one of `path` and `train` (and `nonFinite`, `outputs` only beside `path`). Checked before the
 * schema, whose anyOf/not would otherwise report the mistake as three abstract errors.
 */
function checkModelKeys(data: unknown, source: RecipeSource): void {
  const model = isPlainObject(data) ? data.model : undefined;
  if (!isPlainObject(model)) return;
  const at = () => formatPosition(source.positionOf(['model']));
  const sources = ['path', 'train'].filter((k) => k in model);
  if (sources.length !== 1 && Object.keys(model).every((k) => ['path', 'train', 'nonFinite', 'outputs'].includes(k))) {
    throw new McbError('MCB_RECIPE_INVALID', `\`model\` must have exactly one of: path, train at ${at()}`);
  }
  if ('nonFinite' in model && 'train' in model) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`model.nonFinite\` at ${formatPosition(source.positionOf(['model', 'nonFinite']))} applies to a model file (\`model.path\`); a model mcbuild trains is checked by training itself. Remove it.`,
    );
  }
  if ('outputs' in model && 'train' in model) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`model.outputs\` at ${formatPosition(source.positionOf(['model', 'outputs']))} chooses outputs of a model file (\`model.path\`); a model mcbuild trains has one output. Remove it.`,
    );
  }
}
