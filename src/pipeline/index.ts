import type * as Run from './run.js';

export type { BuildOptions, PlanOptions } from './options.js';
export { defaultCacheDir, planBuild, planRecipe, type PlannedBuild } from './plan.js';
export type { BuildResult, RecipeRun } from './run.js';

// Running a recipe (./run.ts) needs the executor's steps, the gate, the report renderers and provenance; planning
// needs none of them, so `mcbuild plan` and `explain` load it only when a recipe is run.

/** Plans, executes what is not cached and gates, without an output folder (./run.ts). */
export async function runRecipe(...args: Parameters<typeof Run.runRecipe>): ReturnType<typeof Run.runRecipe> {
  return (await import('./run.js')).runRecipe(...args);
}

/** Plans, executes, gates and writes the output folder and report (./run.ts). */
export async function buildRecipe(...args: Parameters<typeof Run.buildRecipe>): ReturnType<typeof Run.buildRecipe> {
  return (await import('./run.js')).buildRecipe(...args);
}
