/**
 * The recipe language: the JSON Schema recipes are validated against and the loader bound to it. Passes and
 * dataset kinds define the language; the loader (src/recipe/) is handed it, so it never imports them.
 */
import { getPass } from '../passes/index.js';
import {
  loadRecipe as loadWith,
  loadRecipeSet as loadSetWith,
  loadSchema,
  type LoadOptions,
  type Recipe,
  type RecipeLanguage,
  type RecipeSet,
} from '../recipe/index.js';

let language: RecipeLanguage | undefined;

/** The language of the passes and datasets this process knows. */
export function recipeLanguage(): RecipeLanguage {
  language ??= { schema: loadSchema(), exclusiveOptions: (pass) => getPass(pass)?.exclusiveOptions ?? [] };
  return language;
}

/** Reads, parses, validates and normalises a recipe. Every failure is an McbError with file:line:col. */
export function loadRecipe(file: string, opts: LoadOptions = {}): Promise<Recipe> {
  return loadWith(file, recipeLanguage(), opts);
}

/** A recipe file with one recipe per `matrix` combination (src/recipe/load.ts). */
export function loadRecipeSet(file: string, opts: LoadOptions = {}): Promise<RecipeSet> {
  return loadSetWith(file, recipeLanguage(), opts);
}
