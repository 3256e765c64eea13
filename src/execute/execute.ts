/**
 * Walks the plan in order, asks the cache first and runs a step only on a miss. A cached step's entry is read
 * (and verified) only when something needs it: the metrics of the two evals, the final model for export,
 * or the input of a step that must run. A damaged entry is reported and recomputed, never trusted.
 * A miss is computed under the step key's lock (src/cache/lock.ts): builds sharing the cache wait for one
 * another instead of computing a step twice, and find the entry the holder stored as a hit.
 */
import { acquireKeyLock, describeOwner, type CacheEntry, type KeyLock, type StepCache } from '../cache/index.js';
import type { Engine } from '../engine/runtime.js';
import type { LatencyComparison, Metrics } from '../metrics/index.js';
import type { Plan, Step } from '../plan/index.js';
import type { EventListener } from './events.js';
import { runStep } from './run-step.js';
import { logStep } from './step-log.js';

export interface ExecuteOptions {
  cache: StepCache;
  signal?: AbortSignal;
  onEvent?: EventListener;
  /** Why a step is not cached, in words ("options.dtype: "uint8" → "uint16""), when known. */
  explainMiss?: (step: Step) => string | undefined;
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
  const emit = opts.onEvent ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  const indexed = await cacheStatus(plan, opts.cache);
  emit({ type: 'plan', plan, cached: indexed });

  const outputs = new Map<string, CacheEntry>();
  /** Metadata of cached steps whose files nothing needed. */
  const metaOnly = new Map<string, Record<string, unknown>>();
  const ran: string[] = [];
  const cached: string[] = [];
  let engine: Promise<Engine> | undefined;
  const loadEngine = () =>
    (engine ??= (async () => {
      const started = performance.now();
      const { loadEngine: load } = await import('../engine/runtime.js');
      const e = await load(plan.backend);
      emit({ type: 'engine', backend: e.backend, seconds: (performance.now() - started) / 1000 });
      return e;
    })());

  const note = (warning: string | undefined) => warning && emit({ type: 'warning', message: warning });

  const announceCached = (step: Step) => {
    if (cached.includes(step.id)) return;
    cached.push(step.id);
    emit({ type: 'step-cached', step });
  };

  /** The entry, when it is committed and verifies; damage is reported (onDamage) and makes it a miss. */
  const readHit = async (step: Step): Promise<CacheEntry | undefined> => {
    const entry = await opts.cache.read(step.key);
    if (!entry) return undefined;
    outputs.set(step.id, entry);
    announceCached(step);
    return entry;
  };

  const materialize = async (step: Step): Promise<CacheEntry> => {
    const have = outputs.get(step.id);
    if (have) return have;
    let reason = opts.explainMiss?.(step) ?? 'not in cache';
    // Another build on this cache may have stored it since we planned.
    if (indexed.has(step.id) || (await opts.cache.has(step.key))) {
      const entry = await readHit(step);
      if (entry) return entry;
      reason = 'cache entry was damaged';
    }
    const inputs: CacheEntry[] = [];
    for (const id of step.inputs) inputs.push(await materialize(byId.get(id)!));
    // One build computes a key at a time (src/cache/lock.ts). Taken after the inputs, so a build holds at
    // most one lock at a time and two builds can never wait for each other.
    let lock: KeyLock;
    try {
      lock = await acquireKeyLock(opts.cache.dir, step.key, {
        signal,
        onWait: (owner) => emit({ type: 'step-progress', step, message: `waiting for ${describeOwner(owner)}, which is computing this step`, ...(owner ? { waiting: { pid: owner.pid, host: owner.host } } : {}) }),
        onTakeover: (owner) => emit({ type: 'warning', message: `${step.id}: took over the lock of ${describeOwner(owner)}, which stopped while computing this step (its partial work was never committed)` }),
      });
    } catch (error) {
      emit({ type: 'step-failed', step, error });
      throw error;
    }
    try {
      // The holder we waited for (or a build that finished just before we locked) stored it: a hit.
      if (await opts.cache.has(step.key)) {
        const entry = await readHit(step);
        if (entry) return entry;
        reason = 'cache entry was damaged';
      }
      emit({ type: 'step-start', step, reason });
      const started = performance.now();
      let entry: CacheEntry;
      try {
        note(logStep('start', step));
        entry = await runStep(step, inputs, {
          plan,
          engine: loadEngine,
          signal,
          progress: (message, fraction) => emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
        });
        // Written only after the step finished: a failed or cancelled step leaves nothing behind.
        await opts.cache.write(step.key, entry);
        note(logStep('done', step));
      } catch (error) {
        emit({ type: 'step-failed', step, error });
        throw error;
      }
      outputs.set(step.id, entry);
      ran.push(step.id);
      emit({ type: 'step-done', step, seconds: (performance.now() - started) / 1000 });
      return entry;
    } finally {
      await lock.release();
    }
  };

  const needed = new Set([plan.baselineEval, plan.resultEval, plan.finalModel, ...(plan.latencyCompare ? [plan.latencyCompare] : [])]);
  for (const step of plan.steps) {
    if (needed.has(step.id) || !indexed.has(step.id)) {
      await materialize(step);
    } else if (!outputs.has(step.id)) {
      // In the index and nothing needs its bytes: a downstream hit already vouches for them. Its facts (pass
      // statistics) still go into the report, which must not depend on what happened to be cached: read its
      // metadata alone (verified); when that is damaged, the step is built again like any miss.
      const entry = await opts.cache.read(step.key, { metaOnly: true });
      if (entry) {
        metaOnly.set(step.id, entry.meta);
        announceCached(step);
      } else await materialize(step);
    }
  }

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
    ran,
    cached,
    engineLoaded: engine !== undefined,
  };
}
