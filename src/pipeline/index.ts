export type { BuildOptions, PlanOptions } from './options.js';
export { defaultCacheDir, planBuild, planRecipe, type PlannedBuild } from './plan.js';
export { buildRecipe, runRecipe, type BuildResult, type RecipeRun } from './run.js';
