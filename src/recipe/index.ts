export { loadRecipe } from './load.js';
export { findProjectRoot } from './paths.js';
export { formatDataPath, formatPosition, SourceMap, type DataPath, type Position } from './source.js';
export { suggest, loadSchema } from './validate.js';
export type * from './types.js';
