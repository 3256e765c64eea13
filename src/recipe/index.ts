export {
  extendedFiles,
  loadRecipe,
  loadRecipeSet,
  variantFolder,
  variantName,
  type LoadOptions,
  type RecipeSet,
} from './load.js';
export { checkInsideProject, findProjectRoot, isInside } from './paths.js';
export {
  formatDataPath,
  formatPosition,
  SourceMap,
  type DataPath,
  type Position,
  type RecipeSource,
} from './source.js';
export { editDistance, suggest, loadSchema, schemaPath } from './validate.js';
export type * from './types.js';
