/**
 * The recipe language: the JSON Schema recipes are validated against, generated from the passes, dataset
 * kinds and metrics mcbuild has (./schema.ts), and the loader bound to it. The loader (src/recipe/) is handed
 * the language, so it never imports what defines it.
 */
import { DATASET_KINDS } from '../data/index.js';
import { allPasses, getPass, registryGeneration } from '../passes/index.js';
import {
  loadRecipe as loadWith,
  loadRecipeSet as loadSetWith,
  type LoadOptions,
  type Recipe,
  type RecipeLanguage,
  type RecipeSet,
} from '../recipe/index.js';
import { buildRecipeSchema } from './schema.js';

export { buildRecipeSchema } from './schema.js';

let cached: { generation: number; language: RecipeLanguage } | undefined;

/** The language of the passes registered now (a pass registered later makes a new one). */
export function recipeLanguage(): RecipeLanguage {
  const generation = registryGeneration();
  if (cached?.generation !== generation) {
    cached = {
      generation,
      language: {
        schema: buildRecipeSchema(allPasses()),
        exclusiveOptions: (pass) => getPass(pass)?.meta.exclusiveOptions ?? [],
        // The schema admitted only the kinds of the table, so the lookup finds one.
        normaliseData: (raw, context) =>
          DATASET_KINDS[raw.dataset as keyof typeof DATASET_KINDS].normalise(raw, context),
      },
    };
  }
  return cached.language;
}

/** The recipe schema of the passes registered now, as schema/recipe.schema.json publishes it. */
export function recipeSchema(): Readonly<Record<string, unknown>> {
  return recipeLanguage().schema;
}

/** Reads, parses, validates and normalises a recipe. Every failure is an McbError with file:line:col. */
export function loadRecipe(file: string, opts: LoadOptions = {}): Promise<Recipe> {
  return loadWith(file, recipeLanguage(), opts);
}

/** A recipe file with one recipe per `matrix` combination (src/recipe/load.ts). */
export function loadRecipeSet(file: string, opts: LoadOptions = {}): Promise<RecipeSet> {
  return loadSetWith(file, recipeLanguage(), opts);
}
