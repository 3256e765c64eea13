/**
 * Walks the plan in order, asks the cache first and runs a step only on a miss. A cached step's entry is read
 * (and verified) only when something needs it: the metrics of the two evals, the final model for export,
 * or the input of a step that must run. A damaged entry is reported and recomputed, never trusted.
 */
import type { CacheEntry, StepCache } from '../cache/index.js';
import type { Engine } from '../engine/runtime.js';
import type { LatencyComparison, Metrics } from '../metrics/index.js';
import type { Plan, Step } from '../plan/index.js';
import type { EventListener } from './events.js';
import { runStep } from './run-step.js';

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

  const announceCached = (step: Step) => {
    if (cached.includes(step.id)) return;
    cached.push(step.id);
    emit({ type: 'step-cached', step });
  };

  const materialize = async (step: Step): Promise<CacheEntry> => {
    const have = outputs.get(step.id);
    if (have) return have;
    let reason = opts.explainMiss?.(step) ?? 'not in cache';
    if (indexed.has(step.id)) {
      const entry = await opts.cache.read(step.key);
      if (entry) {
        outputs.set(step.id, entry);
        announceCached(step);
        return entry;
      }
      reason = 'cache entry was damaged';
    }
    const inputs: CacheEntry[] = [];
    for (const id of step.inputs) inputs.push(await materialize(byId.get(id)!));
    emit({ type: 'step-start', step, reason });
    const started = performance.now();
    let entry: CacheEntry;
    try {
      entry = await runStep(step, inputs, {
        plan,
        engine: loadEngine,
        signal,
        progress: (message, fraction) => emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
      });
      // Written only after the step finished: a failed or cancelled step leaves nothing behind.
      await opts.cache.write(step.key, entry);
    } catch (error) {
      emit({ type: 'step-failed', step, error });
      throw error;
    }
    outputs.set(step.id, entry);
    ran.push(step.id);
    emit({ type: 'step-done', step, seconds: (performance.now() - started) / 1000 });
    return entry;
  };

  const needed = new Set([plan.baselineEval, plan.resultEval, plan.finalModel, ...(plan.latencyCompare ? [plan.latencyCompare] : [])]);
  for (const step of plan.steps) {
    if (needed.has(step.id) || !indexed.has(step.id)) {
      await materialize(step);
    } else if (!outputs.has(step.id)) {
      // In the index and nothing needs its bytes: a downstream hit already vouches for it.
      announceCached(step);
    }
  }

  const stepMeta: Record<string, Record<string, unknown>> = {};
  for (const [id, entry] of outputs) stepMeta[id] = entry.meta;
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
