/**
 * Walks the plan and gets every step the build needs through its sources (src/execute/source.ts): the local
 * cache, the remote cache, the workers, and this process, which computes a step only when no source has it.
 * A cached step's entry is read (and verified) only when something needs it: the metrics of the two evals,
 * the final model for export, or the input of a step that must run. A damaged entry is reported and
 * recomputed, never trusted.
 */
import type { CacheEntry, StepCache } from '../cache/index.js';
import type { RemoteCache } from '../cache/remote.js';
import type { StepQueue } from '../distributed/coordinator.js';
import type { LatencyComparison, Metrics } from '../metrics/index.js';
import type { Plan, Step } from '../plan/index.js';
import type { EventListener } from './events.js';
import { LocalCacheSource, LocalRunner } from './local.js';
import type { StepPool } from './pool.js';
import { readRemote, RemoteCacheSource } from './remote.js';
import { announceCached, type BuildState, type StepSource } from './source.js';
import { WorkerSource } from './workers.js';

export interface ExecuteOptions {
  cache: StepCache;
  signal?: AbortSignal;
  onEvent?: EventListener;
  /** Why a step is not cached, in words ("options.dtype: "uint8" → "uint16""), when known. */
  explainMiss?: (step: Step) => string | undefined;
  /** Asked after the local cache, before computing; what is computed here is uploaded (readwrite mode). */
  remote?: RemoteCache;
  /** Computes steps on workers; needs `remote` (the workers' results travel through it). */
  workers?: StepQueue;
  /** Computes steps here in child processes, side by side (./pool.ts); shared by builds run at once. */
  pool?: StepPool;
}

export interface Execution {
  baseline: Metrics;
  result: Metrics;
  /** Baseline and result timed interleaved, when a latency threshold planned it. */
  latency?: LatencyComparison;
  /** The final model's files, as they go to the output folder. */
  finalModel: Map<string, Uint8Array>;
  /** Per-step facts stored with each entry (pass statistics, training losses). */
  stepMeta: Record<string, Record<string, unknown>>;
  ran: string[];
  cached: string[];
  engineLoaded: boolean;
}

export async function cacheStatus(plan: Plan, cache: StepCache): Promise<Set<string>> {
  const cached = new Set<string>();
  for (const step of plan.steps) if (await cache.has(step.key)) cached.add(step.id);
  return cached;
}

export async function execute(plan: Plan, opts: ExecuteOptions): Promise<Execution> {
  const signal = opts.signal ?? new AbortController().signal;
  const indexed = await cacheStatus(plan, opts.cache);
  const remote = opts.remote;
  const remoteIndexed = new Set<string>();
  if (remote) {
    await Promise.all(
      plan.steps
        .filter((s) => !indexed.has(s.id))
        .map(async (s) => (await remote.has(s.key, { signal })) && remoteIndexed.add(s.id)),
    );
  }
  const materialized = new Map<string, Promise<CacheEntry>>();
  const state: BuildState = {
    plan,
    byId: new Map(plan.steps.map((s) => [s.id, s])),
    cache: opts.cache,
    ...(remote ? { remote } : {}),
    ...(opts.pool ? { pool: opts.pool } : {}),
    signal,
    emit: opts.onEvent ?? (() => {}),
    outputs: new Map(),
    indexed,
    remoteIndexed,
    ran: [],
    cached: [],
    ranRemotely: new Set(),
    damaged: new Set(),
    workersGone: false,
    materialize: (step) => {
      let p = materialized.get(step.id);
      if (!p) materialized.set(step.id, (p = firstSource(step)));
      return p;
    },
    explainMiss: (step) => opts.explainMiss?.(step) ?? 'not in cache',
  };
  state.emit({
    type: 'plan',
    plan,
    cached: new Set([...indexed, ...remoteIndexed]),
    ...(remote ? { remote: remoteIndexed } : {}),
  });

  const runner = new LocalRunner(state);
  const workers = opts.workers && remote ? new WorkerSource(state, opts.workers, remote) : undefined;
  const sources: StepSource[] = [
    new LocalCacheSource(state),
    new RemoteCacheSource(state),
    ...(workers ? [workers] : []),
    runner,
  ];
  async function firstSource(step: Step): Promise<CacheEntry> {
    const had = state.outputs.get(step.id);
    if (had) return had;
    for (const source of sources) {
      const entry = await source.provide(step);
      if (entry) return entry;
    }
    throw new Error(`no source provided ${step.id}`); // the local runner always does
  }

  const needed = new Set([
    plan.baselineEval,
    plan.resultEval,
    plan.finalModel,
    ...(plan.latencyCompare ? [plan.latencyCompare] : []),
  ]);
  try {
    // With workers or a pool, every needed step is asked for at once, so independent ones run side by side.
    if (workers || opts.pool) await Promise.all([...needed].map((id) => state.materialize(state.byId.get(id)!)));
  } finally {
    workers?.close();
  }
  const metaOnly = new Map<string, Record<string, unknown>>();
  for (const step of plan.steps) {
    if (needed.has(step.id) || !(indexed.has(step.id) || remoteIndexed.has(step.id))) {
      await state.materialize(step);
    } else if (!state.outputs.has(step.id)) {
      // In the index and nothing needs its bytes: a downstream hit already vouches for them. Its facts (pass
      // statistics) still go into the report, which must not depend on what happened to be cached: read its
      // metadata alone (verified); when that is damaged, the step is built again like any miss.
      // A remote hit is downloaded whole and kept in the local cache, so the next build here is all local (and
      // does not recompute the step offline); only with workers, whose builds download what they need, is its
      // metadata alone read.
      const local = indexed.has(step.id);
      const entry = local
        ? await opts.cache.read(step.key, { metaOnly: true })
        : await readRemote(state, step, workers !== undefined);
      if (entry) {
        metaOnly.set(step.id, entry.meta);
        if (local) announceCached(state, step);
      } else await state.materialize(step);
    }
  }
  return collect(state, metaOnly, runner.engineLoaded);
}

/** What the build needs of its steps, in plan order however they were scheduled (workers finish in any order). */
function collect(
  state: BuildState,
  metaOnly: ReadonlyMap<string, Record<string, unknown>>,
  engineLoaded: boolean,
): Execution {
  const { plan, outputs } = state;
  const order = new Map(plan.steps.map((s, i) => [s.id, i]));
  const byPlan = (a: string, b: string) => order.get(a)! - order.get(b)!;
  const stepMeta: Record<string, Record<string, unknown>> = {};
  for (const step of plan.steps) {
    const meta = outputs.get(step.id)?.meta ?? metaOnly.get(step.id);
    if (meta) stepMeta[step.id] = meta;
  }
  return {
    baseline: outputs.get(plan.baselineEval)!.meta as unknown as Metrics,
    result: outputs.get(plan.resultEval)!.meta as unknown as Metrics,
    ...(plan.latencyCompare ? { latency: outputs.get(plan.latencyCompare)!.meta as unknown as LatencyComparison } : {}),
    finalModel: outputs.get(plan.finalModel)!.files,
    stepMeta,
    ran: [...state.ran].sort(byPlan),
    cached: [...state.cached].sort(byPlan),
    engineLoaded,
  };
}
