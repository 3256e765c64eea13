/**
 * The one data flow: recipe → plan → execute → gate → report. The CLI and the programmatic API both call
 * these functions; renderers only listen to events.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StepCache } from './cache/index.js';
import { EXIT } from './errors.js';
import { cacheStatus, execute, type EventListener, type Execution } from './execute/index.js';
import { readBuildRecord, writeBuildRecord } from './execute/history.js';
import { describeKeyChange } from './plan/diff.js';
import { gate, type Verdict } from './gate/index.js';
import { gatherPlanInputs, plan as makePlan, type Plan } from './plan/index.js';
import { findProjectRoot, loadRecipe, loadRecipeSet, variantFolder, type BackendChoice, type LoadOptions, type Recipe } from './recipe/index.js';
import { buildReport, preflightOutput, REPORT_FILE, summariseSweep, writeOutput, type Report, type Sweep } from './report/index.js';

export const SWEEP_FILE = 'sweep.json';

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

/** A recipe file built in full: every variant of its matrix (one without a matrix), and the sweep's summary. */
export interface SetResult {
  results: BuildResult[];
  /** With a matrix: the summary written to sweep.json in the folder above the variants' folders. */
  sweep?: Sweep;
  sweepFile?: string;
  /** Without a matrix, the one build's exit code; with one, 0 when the sweep's gate holds, else 1. */
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

/**
 * Builds a recipe file: every variant of its matrix in turn, on one cache, so the steps variants share (the
 * baseline, its evaluation, a common prefix of passes) run once and are cache hits for the others.
 */
export async function buildSet(recipeFile: string, opts: BuildOptions & { onVariant?: (recipe: Recipe, index: number, total: number) => void } = {}): Promise<SetResult> {
  const set = await loadRecipeSet(recipeFile, opts);
  if (!set.matrix) {
    const result = await buildRecipe(set.variants[0]!, opts);
    return { results: [result], exitCode: result.exitCode };
  }
  const root = opts.output ?? dirname(set.variants[0]!.output);
  const results: BuildResult[] = [];
  for (const [i, recipe] of set.variants.entries()) {
    opts.onVariant?.(recipe, i, set.variants.length);
    const output = join(root, variantFolder(recipe.variant!));
    results.push(await buildRecipe(recipe, { ...opts, output }));
  }
  const first = results[0]!.report.recipe;
  const sweep = summariseSweep(
    first,
    set.matrix,
    set.gate,
    results.map((r) => ({ name: r.plan.recipe.variant!.name, values: r.plan.recipe.variant!.values, folder: basename(r.outputDir), report: r.report })),
  );
  const sweepFile = join(root, SWEEP_FILE);
  await writeFileAtomic(sweepFile, `${JSON.stringify(sweep, null, 2)}\n`);
  return { results, sweep, sweepFile, exitCode: sweep.verdict === 'pass' ? EXIT.pass : EXIT.thresholdMissed };
}

async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
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
