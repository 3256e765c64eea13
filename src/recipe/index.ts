export { loadRecipe, loadRecipeSet, type LoadOptions, type RecipeSet } from './load.js';
export { extendedFiles } from './merge.js';
export { variantFolder, variantName } from './matrix.js';
export type { DataEntryContext, RecipeLanguage } from './language.js';
export { LATENCY_BATCHES } from './defaults.js';
export { checkInsideProject, findProjectRoot, isInside } from './paths.js';
export {
  formatDataPath,
  formatPosition,
  RecordedSource,
  recordPlaces,
  SourceMap,
  type DataPath,
  type Position,
  type RecipeSource,
} from './source.js';
export { describeErrors, editDistance, suggest, loadSchema, schemaPath, validateRecipeData } from './validate.js';
export type * from './types.js';
export { recipeSchemaParts, type JsonSchema, type RecipeSchemaParts } from './schema/index.js';
export { DEFAULT_MAX_TRIALS } from './search-spec.js';
