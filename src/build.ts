/**
 * The one data flow: recipe → plan → execute → gate → report. The CLI and the programmatic API both call
 * these functions; renderers only listen to events.
 */
import { join } from 'node:path';
import { StepCache } from './cache/index.js';
import { EXIT } from './errors.js';
import { cacheStatus, execute, type EventListener, type Execution } from './execute/index.js';
import { readBuildRecord, writeBuildRecord } from './execute/history.js';
import { describeKeyChange } from './plan/diff.js';
import { gate, type Verdict } from './gate/index.js';
import { gatherPlanInputs, plan as makePlan, type Plan } from './plan/index.js';
import { findProjectRoot, loadRecipe, type BackendChoice, type LoadOptions, type Recipe } from './recipe/index.js';
import { buildReport, preflightOutput, REPORT_FILE, writeOutput, type Report } from './report/index.js';

export interface PlanOptions extends LoadOptions {
  /** Cache folder; default `cache/` at the project root. */
  cacheDir?: string;
  /** Overrides `runtime.backend`. */
  backend?: BackendChoice;
  /** Gather the baseline's layers even without overrides (`explain`, `sensitivity`). */
  layers?: boolean;
}

export interface BuildOptions extends PlanOptions {
  /** Overrides the recipe's `output`. */
  output?: string;
  signal?: AbortSignal;
  onEvent?: EventListener;
}

export interface PlannedBuild {
  recipe: Recipe;
  plan: Plan;
  cache: StepCache;
  /** Ids of the steps with a committed cache entry. */
  cached: Set<string>;
}

export interface BuildResult {
  plan: Plan;
  execution: Execution;
  verdict: Verdict;
  report: Report;
  outputDir: string;
  /** 0 when every threshold passed, 1 when one was missed. */
  exitCode: number;
}

export function defaultCacheDir(recipeFile: string): string {
  return join(findProjectRoot(recipeFile), 'cache');
}

export async function planBuild(recipeFile: string, opts: PlanOptions = {}, onDamage?: (key: string, reason: string) => void): Promise<PlannedBuild> {
  return planRecipe(await loadRecipe(recipeFile, opts), opts, onDamage);
}

/** Plans a recipe already loaded (one variant of a matrix, or a recipe made by `sensitivity` and search). */
export async function planRecipe(recipe: Recipe, opts: PlanOptions = {}, onDamage?: (key: string, reason: string) => void): Promise<PlannedBuild> {
  const inputs = await gatherPlanInputs(recipe, { ...(opts.backend === undefined ? {} : { backend: opts.backend }), ...(opts.layers ? { layers: true } : {}) });
  const plan = makePlan(recipe, inputs);
  const cache = new StepCache(opts.cacheDir ?? defaultCacheDir(recipe.file), onDamage);
  return { recipe, plan, cache, cached: await cacheStatus(plan, cache) };
}

export async function build(recipeFile: string, opts: BuildOptions = {}): Promise<BuildResult> {
  return buildRecipe(await loadRecipe(recipeFile, opts), opts);
}

/** Builds a recipe already loaded: plan, execute what is not cached, gate, write the output folder. */
export async function buildRecipe(recipe: Recipe, opts: BuildOptions = {}): Promise<BuildResult> {
  const emit = opts.onEvent ?? (() => {});
  const { plan, cache } = await planRecipe(recipe, opts, (key, reason) => {
    emit({ type: 'warning', message: `cache entry ${key.slice(0, 12)} is unusable (${reason}); it will be rebuilt` });
  });
  const outputDir = opts.output ?? recipe.output;
  await preflightOutput(outputDir);
  const previous = await readBuildRecord(cache.dir, recipe);
  const release = await cache.hold(plan.steps.map((s) => s.key));
  let execution: Execution;
  try {
    execution = await execute(plan, {
      cache,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: emit,
      explainMiss: (step) => {
        const before = previous?.[step.id];
        if (!before) return previous ? 'new step since the last build' : undefined;
        if (before.key === step.key) return 'not in cache (removed since the last build)';
        const changes = describeKeyChange(before.keyInputs, step.keyInputs, step.inputs);
        return changes.length ? `changed since the last build: ${changes.join('; ')}` : undefined;
      },
    });
  } finally {
    await release();
  }
  await writeBuildRecord(cache.dir, plan);
  const verdict = gate(recipe.thresholds, execution.baseline, execution.result);
  const report = buildReport(plan, execution, verdict);
  const files = new Map(execution.finalModel);
  files.set(REPORT_FILE, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
  await writeOutput(outputDir, files);
  return { plan, execution, verdict, report, outputDir, exitCode: verdict.pass ? EXIT.pass : EXIT.thresholdMissed };
}
