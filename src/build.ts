/**
 * The one data flow: recipe → plan → execute → gate → report. The CLI and the programmatic API both call
 * these functions; renderers only listen to events.
 */
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { StepCache } from './cache/index.js';
import { EXIT, McbError } from './errors.js';
import { cacheStatus, execute, type BuildEvent, type EventListener, type Execution } from './execute/index.js';
import { readBuildRecord, writeBuildRecord } from './execute/history.js';
import { describeKeyChange } from './plan/diff.js';
import { gate, type Verdict } from './gate/index.js';
import { gatherPlanInputs, plan as makePlan, type Plan } from './plan/index.js';
import {
  findProjectRoot,
  loadRecipe,
  loadRecipeSet,
  variantFolder,
  type BackendChoice,
  type LoadOptions,
  type Recipe,
} from './recipe/index.js';
import {
  buildReport,
  HTML_FILE,
  htmlPage,
  preflightOutput,
  renderHtml,
  REPORT_FILE,
  RUN_FILE,
  splitReport,
  summariseSweep,
  SWEEP_FILE,
  writeOutput,
  type Report,
  type Sweep,
} from './report/index.js';
import { writeTextAtomic } from './util/write.js';
import { MODEL_JSON } from './engine/model-format.js';
import {
  buildManifest,
  buildProvenance,
  digestOf,
  MANIFEST_FILE,
  manifestBytes,
  PROVENANCE_FILE,
  provenanceBytes,
  signManifest,
  SIGNATURE_FILE,
  stampModelJson,
} from './provenance/index.js';
import type { KeyObject } from 'node:crypto';
import type { PlanInputs } from './plan/index.js';
import type { RemoteCache } from './cache/remote.js';
import type { StepQueue } from './distributed/coordinator.js';

export { SWEEP_FILE };

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
  /** An ed25519 private key (src/provenance/manifest.ts loadPrivateKey): the output's manifest.json is signed with it. */
  signKey?: KeyObject;
  /** The shared cache (src/cache/remote.ts): asked after the local cache; computed steps are uploaded. */
  remote?: RemoteCache;
  /** Workers to compute steps on (src/distributed/coordinator.ts); needs `remote`. */
  workers?: StepQueue;
}

export interface PlannedBuild {
  recipe: Recipe;
  plan: Plan;
  /** What planning read: model and dataset digests (provenance.json records them). */
  inputs: PlanInputs;
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
  const inputs = await gatherPlanInputs(recipe, {
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.layers ? { layers: true } : {}),
  });
  const plan = makePlan(recipe, inputs);
  const cache = new StepCache(opts.cacheDir ?? defaultCacheDir(recipe.file), onDamage);
  return { recipe, plan, inputs, cache, cached: await cacheStatus(plan, cache) };
}

export async function build(recipeFile: string, opts: BuildOptions = {}): Promise<BuildResult> {
  return buildRecipe(await loadRecipe(recipeFile, opts), opts);
}

/**
 * Builds a recipe file: every variant of its matrix in turn, on one cache, so the steps variants share (the
 * baseline, its evaluation, a common prefix of passes) run once and are cache hits for the others. With
 * `variant`, only that variant is built, into its own folder, like a recipe without a matrix: sweep.json
 * summarises the whole sweep, so one variant's build leaves it alone.
 */
export async function buildSet(
  recipeFile: string,
  opts: BuildOptions & {
    onVariant?: (recipe: Recipe, index: number, total: number) => void;
    onSearch?: (label: string) => void;
  } = {},
): Promise<SetResult> {
  const set = await loadRecipeSet(recipeFile, opts);
  if (!set.matrix) {
    const result = await buildOrSearch(set.variants[0]!, opts);
    return { results: [result], exitCode: result.exitCode };
  }
  const root = opts.output ?? dirname(set.variants[0]!.output);
  if (opts.variant !== undefined) {
    const recipe = set.variants[0]!;
    const result = await buildOrSearch(recipe, { ...opts, output: join(root, variantFolder(recipe.variant!)) });
    return { results: [result], exitCode: result.exitCode };
  }
  const buildVariant = (recipe: Recipe, i: number, signal = opts.signal) => {
    opts.onVariant?.(recipe, i, set.variants.length);
    // Built at once (with workers), the variants' events interleave: each carries its variant's name.
    const onEvent =
      opts.onEvent && opts.workers
        ? (e: BuildEvent) => opts.onEvent!({ ...e, variant: recipe.variant!.name })
        : opts.onEvent;
    return buildOrSearch(recipe, {
      ...opts,
      ...(signal ? { signal } : {}),
      ...(onEvent ? { onEvent } : {}),
      output: join(root, variantFolder(recipe.variant!)),
    });
  };
  const results: BuildResult[] = [];
  // With workers, every variant's steps are queued at once (the workers are the limit, not this process);
  // steps variants share are one job. Locally, one after another: TF.js work of one process shares one thread.
  if (opts.workers) results.push(...(await allOrNothing(set.variants, buildVariant, opts.signal)));
  else for (const [i, recipe] of set.variants.entries()) results.push(await buildVariant(recipe, i));
  const first = results[0]!.report.recipe;
  const sweep = summariseSweep(
    first,
    set.matrix,
    set.gate,
    results.map((r) => ({
      name: r.plan.recipe.variant!.name,
      values: r.plan.recipe.variant!.values,
      folder: basename(r.outputDir),
      report: r.report,
    })),
  );
  const sweepFile = join(root, SWEEP_FILE);
  await writeTextAtomic(sweepFile, `${JSON.stringify(sweep, null, 2)}\n`, 'sweep summary');
  // One page for the whole sweep beside sweep.json: every variant on one Pareto chart.
  const page = htmlPage([
    { sweep, variants: results.map((r) => ({ report: r.report, where: basename(r.outputDir) })) },
  ]);
  await writeTextAtomic(join(root, HTML_FILE), renderHtml(page), 'sweep report page');
  return { results, sweep, sweepFile, exitCode: sweep.verdict === 'pass' ? EXIT.pass : EXIT.thresholdMissed };
}

/**
 * Runs `work` on every item at once. The first failure cancels the others (the sweep has failed; they must not
 * go on building in the background) and is thrown once they have stopped.
 */
async function allOrNothing<T, R>(
  items: readonly T[],
  work: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  outer?: AbortSignal,
): Promise<R[]> {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  if (outer?.aborted) controller.abort();
  let first: { error: unknown } | undefined;
  try {
    const settled = await Promise.allSettled(
      items.map((item, i) =>
        work(item, i, controller.signal).catch((error: unknown) => {
          first ??= { error };
          controller.abort();
          throw error;
        }),
      ),
    );
    if (first) throw first.error;
    return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
}

/**
 * A recipe with an `auto` option is searched first (src/search/search.ts). When a plan passes, the best is
 * written beside the recipe as a plain recipe (`x.searched.yaml`) with the search's record (`x.search.json`)
 * and built like any other, its output carrying a copy and the search log. When none passes, nothing beside
 * the recipe is touched (an earlier searched recipe stays), and the build is the smallest plan that held every
 * threshold but size (else the start), so the report shows how close the search came. Ctrl-C during the search
 * keeps a passing plan found so far (the two files), then stops without building.
 */
async function buildOrSearch(
  recipe: Recipe,
  opts: BuildOptions & { onSearch?: (label: string) => void },
): Promise<BuildResult> {
  if (!recipe.passes.some((p) => p.search)) return buildRecipe(recipe, opts);
  const { searchRecipe, searchedRecipePath, searchRecordPath, searchedRecipeYaml, searchRecord, searchSummary } =
    await import('./search/search.js');
  const root = findProjectRoot(recipe.file);
  const shown = (file: string) => relative(root, file).split('\\').join('/');
  const file = searchedRecipePath(recipe);
  const recordFile = searchRecordPath(recipe);
  /** Writes the searched recipe and the record when a plan passed; returns the recipe's YAML, or undefined. */
  const keep = async (result: Awaited<ReturnType<typeof searchRecipe>>): Promise<string | undefined> => {
    if (!result.chosen) return undefined;
    const yaml = searchedRecipeYaml(recipe, result, dirname(file));
    await writeTextAtomic(file, yaml, 'searched recipe');
    await writeTextAtomic(
      recordFile,
      `${JSON.stringify(searchRecord(recipe, result, shown(file), shown(recordFile)), null, 2)}\n`,
      'search record',
    );
    return yaml;
  };
  // Trials are builds too; their step-by-step events would bury the search's own progress: pass warnings only.
  const result = await searchRecipe(recipe, {
    ...opts,
    onEvent: (e) => e.type === 'warning' && opts.onEvent?.(e),
    ...(opts.onSearch ? { onTrial: opts.onSearch } : {}),
    onCancelled: async (partial) => {
      await keep(partial);
    },
  });
  const yaml = await keep(result);
  return buildRecipe(result.recipe, {
    ...opts,
    ...(opts.output ? {} : { output: recipe.output }),
    ...(yaml === undefined ? {} : { extraFiles: new Map([[SEARCHED_FILE, new TextEncoder().encode(yaml)]]) }),
    reportExtras: {
      search: searchSummary(
        result,
        yaml === undefined ? null : shown(file),
        yaml === undefined ? null : shown(recordFile),
      ),
    },
  });
}

/** The searched recipe's copy in the output folder. */
export const SEARCHED_FILE = 'recipe.searched.yaml';

/** Plan, execute what is not cached and gate, without an output folder or build record (search trials, sensitivity). */
export interface RecipeRun {
  plan: Plan;
  inputs: PlanInputs;
  execution: Execution;
  verdict: Verdict;
}

export async function runRecipe(
  recipe: Recipe,
  opts: BuildOptions = {},
  explainMiss?: (step: Plan['steps'][number]) => string | undefined,
): Promise<RecipeRun> {
  const emit = opts.onEvent ?? (() => {});
  const { plan, inputs, cache } = await planRecipe(recipe, opts, (key, reason) => {
    emit({ type: 'warning', message: `cache entry ${key.slice(0, 12)} is unusable (${reason}); it will be rebuilt` });
  });
  const release = await cache.hold(plan.steps.map((s) => s.key));
  let execution: Execution;
  try {
    execution = await execute(plan, {
      cache,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: emit,
      ...(explainMiss ? { explainMiss } : {}),
      ...(opts.remote ? { remote: opts.remote } : {}),
      ...(opts.workers ? { workers: opts.workers } : {}),
    });
  } finally {
    await release();
  }
  return {
    plan,
    inputs,
    execution,
    verdict: gate(recipe.thresholds, execution.baseline, execution.result, execution.latency),
  };
}

/**
 * The output folder and the cache must not nest: `mcbuild cache gc` deletes what it does not know inside the
 * cache (an output in cache/tmp/ vanished), and writing the output replaces its folder whole (a cache inside it).
 */
function refuseCacheOverlap(outputDir: string, cacheDir: string): void {
  const out = resolve(outputDir);
  const cache = resolve(cacheDir);
  const within = (inner: string, outer: string) => {
    const rel = relative(outer, inner);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
  };
  if (within(out, cache) || within(cache, out)) {
    throw new McbError(
      'MCB_OUTPUT',
      `the output folder ${outputDir} ${within(out, cache) ? 'is inside' : 'holds'} the cache folder ${cacheDir}: \`mcbuild cache gc\` removes files it does not know from the cache, and each build replaces its output folder whole. Choose an \`output\` (or --out) outside the cache, or another --cache-dir.`,
    );
  }
}

/** Builds a recipe already loaded: plan, execute what is not cached, gate, write the output folder. */
export async function buildRecipe(
  recipe: Recipe,
  opts: BuildOptions & { extraFiles?: ReadonlyMap<string, Uint8Array>; reportExtras?: Record<string, unknown> } = {},
): Promise<BuildResult> {
  const startedAt = new Date();
  const started = performance.now();
  const outputDir = opts.output ?? recipe.output;
  const cacheDir = opts.cacheDir ?? defaultCacheDir(recipe.file);
  refuseCacheOverlap(outputDir, cacheDir);
  await preflightOutput(outputDir);
  const previous = await readBuildRecord(cacheDir, recipe);
  const { plan, inputs, execution, verdict } = await runRecipe(recipe, opts, (step) => {
    const before = previous?.[step.id];
    if (!before) return previous ? 'new step since the last build' : undefined;
    if (before.key === step.key) return 'not in cache (removed since the last build)';
    const changes = describeKeyChange(before.keyInputs, step.keyInputs, step.inputs);
    return changes.length ? `changed since the last build: ${changes.join('; ')}` : undefined;
  });
  const report = { ...buildReport(plan, execution, verdict), ...opts.reportExtras };
  await writeBuildRecord(cacheDir, plan, report);
  // report.json and provenance.json are the same bytes for the same recipe and backend; what this machine
  // measured at this moment (latency, the build's time and host) goes to run.json (src/report/run.ts).
  const { stable, run } = splitReport(report, {
    startedAt,
    durationMs: performance.now() - started,
    hits: execution.cached,
    misses: execution.ran,
  });
  const provenance = provenanceBytes(buildProvenance(plan, inputs, stable));
  const files = new Map(execution.finalModel);
  // Only the exported copy is stamped: the cached model stays as its pass wrote it, and shared by builds.
  files.set(MODEL_JSON, stampModelJson(files.get(MODEL_JSON)!, digestOf(provenance)));
  for (const [name, bytes] of opts.extraFiles ?? []) files.set(name, bytes);
  files.set(REPORT_FILE, new TextEncoder().encode(`${JSON.stringify(stable, null, 2)}\n`));
  files.set(PROVENANCE_FILE, provenance);
  files.set(RUN_FILE, new TextEncoder().encode(`${JSON.stringify(run, null, 2)}\n`));
  // The full report (latency included) as a page with charts, for a person opening the folder (src/report/html/).
  files.set(HTML_FILE, new TextEncoder().encode(renderHtml(htmlPage([{ report }]))));
  const manifest = manifestBytes(buildManifest(files));
  files.set(MANIFEST_FILE, manifest);
  if (opts.signKey) files.set(SIGNATURE_FILE, signManifest(manifest, opts.signKey));
  await writeOutput(outputDir, files);
  return { plan, execution, verdict, report, outputDir, exitCode: verdict.pass ? EXIT.pass : EXIT.thresholdMissed };
}
