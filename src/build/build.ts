/**
 * A recipe file built in full: every variant of its matrix, each searched first when it has an `auto`
 * option, and the sweep's summary. One variant's build is the pipeline's (src/pipeline/).
 */
import { basename, dirname, join, relative } from 'node:path';
import { EmptyPassError, EXIT } from '../errors.js';
import { recipePool, type BuildEvent } from '../execute/index.js';
import { loadRecipe, loadRecipeSet } from '../language/index.js';
import { buildRecipe, type BuildOptions, type BuildResult } from '../pipeline/index.js';
import { findProjectRoot, variantFolder, type Recipe } from '../recipe/index.js';
import { HTML_FILE, htmlPage, renderHtml, summariseSweep, SWEEP_FILE, type Sweep } from '../report/index.js';
import {
  searchRecipe,
  searchedRecipePath,
  searchedRecipeYaml,
  searchRecord,
  searchRecordPath,
  searchSummary,
} from '../search/search.js';
import { writeTextAtomic } from '../util/write.js';

export { SWEEP_FILE };

/** A recipe file built in full: every variant of its matrix (one without a matrix), and the sweep's summary. */
export interface SetResult {
  results: BuildResult[];
  /**
   * Variants of a matrix whose build stopped at a pass that changed nothing (EmptyPassError): each is reported
   * in sweep.json as a failed variant with its error, and the sweep goes on. Empty without a matrix (the build
   * itself fails, exit 2).
   */
  failed: { recipe: Recipe; folder: string; error: EmptyPassError }[];
  /** With a matrix: the summary written to sweep.json in the folder above the variants' folders. */
  sweep?: Sweep;
  sweepFile?: string;
  /** Without a matrix, the one build's exit code; with one, 0 when the sweep's gate holds, else 1. */
  exitCode: number;
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
    /** Before anything builds: how many variants, and whether they build at once (workers, or a local pool). */
    onSchedule?: (schedule: { variants: number; atOnce: boolean }) => void | Promise<void>;
  } = {},
): Promise<SetResult> {
  const set = await loadRecipeSet(recipeFile, opts);
  const sweep = set.matrix !== undefined && opts.variant === undefined && set.variants.length > 1;
  // Locally, a sweep's variants build at once in child processes sharing the cores (src/execute/pool.ts).
  const pool = sweep && !opts.workers && !opts.pool ? recipePool(set.variants[0]!, opts) : undefined;
  await opts.onSchedule?.({ variants: set.variants.length, atOnce: sweep && (opts.workers ?? pool) !== undefined });
  try {
    return await buildVariants(set, pool ? { ...opts, pool } : opts);
  } finally {
    pool?.close();
  }
}

async function buildVariants(
  set: Awaited<ReturnType<typeof loadRecipeSet>>,
  opts: Parameters<typeof buildSet>[1] & {},
): Promise<SetResult> {
  if (!set.matrix) {
    const result = await buildOrSearch(set.variants[0]!, opts);
    return { results: [result], failed: [], exitCode: result.exitCode };
  }
  const root = opts.output ?? dirname(set.variants[0]!.output);
  if (opts.variant !== undefined) {
    const recipe = set.variants[0]!;
    const result = await buildOrSearch(recipe, { ...opts, output: join(root, variantFolder(recipe.variant!)) });
    return { results: [result], failed: [], exitCode: result.exitCode };
  }
  const failed: SetResult['failed'] = [];
  // A variant whose pass changed nothing is that variant's result, not the sweep's end (the sweep goes on).
  const buildVariant = async (recipe: Recipe, i: number, signal = opts.signal): Promise<BuildResult | undefined> => {
    try {
      return await buildOne(recipe, i, signal);
    } catch (e) {
      if (!(e instanceof EmptyPassError)) throw e;
      opts.onEvent?.({ type: 'warning', message: `variant ${recipe.variant!.name}: ${e.message}` });
      failed.push({ recipe, folder: variantFolder(recipe.variant!), error: e });
      return undefined;
    }
  };
  const buildOne = (recipe: Recipe, i: number, signal = opts.signal) => {
    opts.onVariant?.(recipe, i, set.variants.length);
    // Built at once (workers, a pool), the variants' events interleave: each carries its variant's name.
    const onEvent =
      opts.onEvent && (opts.workers || opts.pool)
        ? (e: BuildEvent) => opts.onEvent!({ ...e, variant: recipe.variant!.name })
        : opts.onEvent;
    return buildOrSearch(recipe, {
      ...opts,
      ...(signal ? { signal } : {}),
      ...(onEvent ? { onEvent } : {}),
      output: join(root, variantFolder(recipe.variant!)),
    });
  };
  const built: (BuildResult | undefined)[] = [];
  // With workers or a pool, every variant's steps are asked for at once (the workers or the cores are the limit);
  // steps variants share are computed once (one job; locally, under the step's lock). Otherwise one variant
  // after another.
  if (opts.workers || opts.pool) built.push(...(await allOrNothing(set.variants, buildVariant, opts.signal)));
  else for (const [i, recipe] of set.variants.entries()) built.push(await buildVariant(recipe, i));
  const results = built.filter((r): r is BuildResult => r !== undefined);
  const first = results[0]?.report.recipe ?? {
    name: set.variants[0]!.name,
    file: relative(findProjectRoot(set.variants[0]!.file), set.variants[0]!.file).split('\\').join('/'),
  };
  const sweep = summariseSweep(
    first,
    set.matrix,
    set.gate,
    set.variants.map((recipe, i) => {
      const r = built[i];
      const name = recipe.variant!.name;
      if (r) return { name, values: recipe.variant!.values, folder: basename(r.outputDir), report: r.report };
      const f = failed.find((x) => x.recipe === recipe)!;
      return { name, values: recipe.variant!.values, folder: f.folder, error: f.error.message };
    }),
  );
  const sweepFile = join(root, SWEEP_FILE);
  await writeTextAtomic(sweepFile, `${JSON.stringify(sweep, null, 2)}\n`, 'sweep summary');
  // One page for the whole sweep beside sweep.json: every variant on one Pareto chart.
  const page = htmlPage([
    { sweep, variants: results.map((r) => ({ report: r.report, where: basename(r.outputDir) })) },
  ]);
  await writeTextAtomic(join(root, HTML_FILE), renderHtml(page), 'sweep report page');
  return {
    results,
    failed,
    sweep,
    sweepFile,
    exitCode: sweep.verdict === 'pass' ? EXIT.pass : EXIT.thresholdMissed,
  };
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
