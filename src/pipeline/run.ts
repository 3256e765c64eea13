/**
 * The one data flow for one recipe variant: plan → execute → gate → report. The CLI, the programmatic API,
 * search trials and watch mode all call these functions; renderers only listen to events.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { EmptyPassError, EXIT, McbError } from '../errors.js';
import { execute, type Execution } from '../execute/index.js';
import { readBuildRecord, writeBuildRecord } from '../execute/history.js';
import { gate, type Verdict } from '../gate/index.js';
import { MODEL_JSON } from '../model/index.js';
import { describeKeyChange } from '../plan/diff.js';
import type { Plan, PlanInputs } from '../plan/index.js';
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
} from '../provenance/index.js';
import type { Recipe } from '../recipe/index.js';
import {
  buildReport,
  buildWarnings,
  HTML_FILE,
  htmlPage,
  preflightOutput,
  renderHtml,
  REPORT_FILE,
  RUN_FILE,
  splitReport,
  writeOutput,
  type Report,
} from '../report/index.js';
import type { BuildOptions } from './options.js';
import { defaultCacheDir, planRecipe } from './plan.js';

export interface BuildResult {
  plan: Plan;
  execution: Execution;
  verdict: Verdict;
  report: Report;
  outputDir: string;
  /** 0 when every threshold passed, 1 when one was missed. */
  exitCode: number;
}

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
      ...(opts.pool ? { pool: opts.pool } : {}),
    });
  } finally {
    await release();
  }
  // A pass step a scan or search trial cached although it changed nothing fails a build that reads it.
  if (!opts.allowEmptyPasses) {
    const empty = plan.steps.find((s) => typeof execution.stepMeta[s.id]?.empty === 'string');
    if (empty) throw new EmptyPassError(empty.id, execution.stepMeta[empty.id]!.empty as string);
  }
  // From the results, not from the steps that ran: a fully cached build warns as the first one did. Not for
  // the scan's and the search's trials (allowEmptyPasses): the build they lead to warns once.
  if (!opts.allowEmptyPasses) for (const message of buildWarnings(plan, execution)) emit({ type: 'warning', message });
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
