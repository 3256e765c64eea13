/** Planning a recipe variant: gather what the plan depends on, make the plan, and look at the cache. */
import { join } from 'node:path';
import { StepCache } from '../cache/index.js';
import { cacheStatus } from '../execute/index.js';
import { loadRecipe } from '../language/index.js';
import { gatherPlanInputs, plan as makePlan, type Plan, type PlanInputs } from '../plan/index.js';
import { findProjectRoot, type Recipe } from '../recipe/index.js';
import type { PlanOptions } from './options.js';

export interface PlannedBuild {
  recipe: Recipe;
  plan: Plan;
  /** What planning read: model and dataset digests (provenance.json records them). */
  inputs: PlanInputs;
  cache: StepCache;
  /** Ids of the steps with a committed cache entry. */
  cached: Set<string>;
}

export function defaultCacheDir(recipeFile: string): string {
  return join(findProjectRoot(recipeFile), 'cache');
}

export async function planBuild(
  recipeFile: string,
  opts: PlanOptions = {},
  onDamage?: (key: string, reason: string) => void,
): Promise<PlannedBuild> {
  return planRecipe(await loadRecipe(recipeFile, opts), opts, onDamage);
}

/** Plans a recipe already loaded (one variant of a matrix, or a recipe made by `sensitivity` and search). */
export async function planRecipe(
  recipe: Recipe,
  opts: PlanOptions = {},
  onDamage?: (key: string, reason: string) => void,
): Promise<PlannedBuild> {
  if (opts.threads !== undefined) recipe = { ...recipe, runtime: { ...recipe.runtime, threads: opts.threads } };
  const inputs = await gatherPlanInputs(recipe, {
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.layers ? { layers: true } : {}),
  });
  const plan = makePlan(recipe, inputs, opts.allowEmptyPasses ? { allowEmptyPasses: true } : {});
  const cache = new StepCache(opts.cacheDir ?? defaultCacheDir(recipe.file), onDamage);
  return { recipe, plan, inputs, cache, cached: await cacheStatus(plan, cache) };
}
