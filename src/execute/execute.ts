/**
 * Walks the plan in order, asks the cache first and runs a step only on a miss. A cached step's entry is read
 * (and verified) only when something needs it: the metrics of the two evals, the final model for export,
 * or the input of a step that must run. A damaged entry is reported and recomputed, never trusted.
 * A miss is computed under the step key's lock (src/cache/lock.ts): builds sharing the cache wait for one
 * another instead of computing a step twice, and find the entry the holder stored as a hit.
 *
 * With a remote cache (src/cache/remote.ts) a local miss asks the remote before computing; a remote hit is
 * verified and kept in the local cache, and what this build computes is uploaded. With workers
 * (src/distributed/coordinator.ts) the steps to compute are queued instead, all that are ready at once; the
 * workers upload their results and this build downloads only what it needs (the evals' metrics, the final
 * model). When the queue or the remote cache fails, the build goes on locally: slower, never wrong.
 */
import { acquireKeyLock, describeOwner, type CacheEntry, type KeyLock, type StepCache } from '../cache/index.js';
import type { RemoteCache } from '../cache/remote.js';
import { queueCancelled, QueueUnavailable, type StepQueue } from '../distributed/coordinator.js';
import { stepJob } from '../distributed/job.js';
import type { Engine } from '../engine/runtime.js';
import type { LatencyComparison, Metrics } from '../metrics/index.js';
import type { Plan, Step } from '../plan/index.js';
import type { EventListener } from './events.js';
import { McbError } from '../errors.js';
import { runStep } from './run-step.js';
import { logStep } from './step-log.js';

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
  const remote = opts.remote;
  /** Steps missing here whose action record the remote cache holds (nothing downloaded yet). */
  const remoteIndexed = new Set<string>();
  if (remote) {
    await Promise.all(
      plan.steps
        .filter((s) => !indexed.has(s.id))
        .map(async (s) => (await remote.has(s.key, { signal })) && remoteIndexed.add(s.id)),
    );
  }
  emit({
    type: 'plan',
    plan,
    cached: new Set([...indexed, ...remoteIndexed]),
    ...(remote ? { remote: remoteIndexed } : {}),
  });

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

  let gaveUpOnWorkers = false;
  /** Steps a worker computed for this build: they are read from the remote cache, but they ran. */
  const ranRemotely = new Set<string>();
  const announceCached = (step: Step, from?: 'remote') => {
    if (cached.includes(step.id) || ranRemotely.has(step.id)) return;
    cached.push(step.id);
    emit({ type: 'step-cached', step, ...(from ? { from } : {}) });
  };

  /** The remote entry, verified, and kept in the local cache; undefined on a miss, on damage or in an outage. */
  const readRemote = async (step: Step, metaOnly = false): Promise<CacheEntry | undefined> => {
    if (!remote) return undefined;
    const entry = await remote.read(step.key, { metaOnly, signal });
    if (!entry) {
      // Damaged (warned once) or unreachable: not asked again for this step, which is computed.
      remoteIndexed.delete(step.id);
      return undefined;
    }
    if (!metaOnly) {
      await opts.cache.write(step.key, entry);
      outputs.set(step.id, entry);
    }
    announceCached(step, 'remote');
    return entry;
  };

  /** Runs a step in this process and stores it (and uploads it to the remote cache, in readwrite mode). */
  const computeHere = async (step: Step, inputs: CacheEntry[]): Promise<CacheEntry> => {
    const entry = await runStep(step, inputs, {
      recipe: plan.recipe,
      engine: loadEngine,
      signal,
      progress: (message, fraction) =>
        emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
    });
    // Written only after the step finished: a failed or cancelled step leaves nothing behind.
    await opts.cache.write(step.key, entry);
    if (remote) await remote.write(step.key, entry, { signal });
    return entry;
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
    // After workers were given up on, jobs they still finish land in the remote cache: look before computing.
    if (remoteIndexed.has(step.id) || (gaveUpOnWorkers && remote && (await remote.has(step.key, { signal })))) {
      const entry = await readRemote(step);
      if (entry) return entry;
    }
    const inputs: CacheEntry[] = [];
    for (const id of step.inputs) inputs.push(await materialize(byId.get(id)!));
    // One build computes a key at a time (src/cache/lock.ts). Taken after the inputs, so a build holds at
    // most one lock at a time and two builds can never wait for each other.
    let lock: KeyLock;
    try {
      lock = await acquireKeyLock(opts.cache.dir, step.key, {
        signal,
        onWait: (owner) =>
          emit({
            type: 'step-progress',
            step,
            message: `waiting for ${describeOwner(owner)}, which is computing this step`,
            ...(owner ? { waiting: { pid: owner.pid, host: owner.host } } : {}),
          }),
        onTakeover: (owner) =>
          emit({
            type: 'warning',
            message: `${step.id}: took over the lock of ${describeOwner(owner)}, which stopped while computing this step (its partial work was never committed)`,
          }),
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
        entry = await computeHere(step, inputs);
        note(logStep('done', step));
      } catch (error) {
        emit({ type: 'step-failed', step, error });
        throw error;
      }
      outputs.set(step.id, entry);
      if (!ran.includes(step.id)) ran.push(step.id);
      emit({ type: 'step-done', step, seconds: (performance.now() - started) / 1000 });
      return entry;
    } finally {
      await lock.release();
    }
  };

  const needed = new Set([
    plan.baselineEval,
    plan.resultEval,
    plan.finalModel,
    ...(plan.latencyCompare ? [plan.latencyCompare] : []),
  ]);
  if (opts.workers && remote) {
    // Stops what distribute() still has in flight once it gives up: the rest is built here, and a job finishing
    // late must not count a step twice.
    const giveUp = new AbortController();
    const onAbort = () => giveUp.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await distribute(plan, needed, opts.workers, remote, {
        signal: giveUp.signal,
        emit,
        remoteIndexed,
        localOnly: (step) => indexed.has(step.id) || step.spec.kind === 'load',
        materialize,
        explain: (step) => opts.explainMiss?.(step) ?? 'not in cache',
        ran: (step) => {
          if (giveUp.signal.aborted || ran.includes(step.id)) return;
          ranRemotely.add(step.id);
          ran.push(step.id);
        },
      });
    } catch (e) {
      giveUp.abort();
      gaveUpOnWorkers = true;
      if (signal.aborted) throw queueCancelled();
      if (!(e instanceof QueueUnavailable)) throw e;
      emit({ type: 'warning', message: `${e.message}; the rest of this build runs here` });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
  for (const step of plan.steps) {
    if (needed.has(step.id) || !(indexed.has(step.id) || remoteIndexed.has(step.id))) {
      await materialize(step);
    } else if (!outputs.has(step.id)) {
      // In the index and nothing needs its bytes: a downstream hit already vouches for them. Its facts (pass
      // statistics) still go into the report, which must not depend on what happened to be cached: read its
      // metadata alone (verified); when that is damaged, the step is built again like any miss.
      // A remote hit is downloaded whole and kept in the local cache, so the next build here is all local (and
      // does not recompute the step offline); only with workers, whose builds download what they need, is its
      // metadata alone read.
      const local = indexed.has(step.id);
      const entry = local
        ? await opts.cache.read(step.key, { metaOnly: true })
        : await readRemote(step, opts.workers !== undefined);
      if (entry) {
        metaOnly.set(step.id, entry.meta);
        if (local) announceCached(step);
      } else await materialize(step);
    }
  }
  // In plan order, however the steps were scheduled (workers finish in any order).
  const order = new Map(plan.steps.map((s, i) => [s.id, i]));
  const byPlan = (a: string, b: string) => order.get(a)! - order.get(b)!;
  ran.sort(byPlan);
  cached.sort(byPlan);

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

interface Distribution {
  signal: AbortSignal;
  emit: EventListener;
  remoteIndexed: Set<string>;
  /** Steps that run, or are read, on this machine: cached here, or reading the user's files (load). */
  localOnly: (step: Step) => boolean;
  materialize: (step: Step) => Promise<CacheEntry>;
  explain: (step: Step) => string;
  ran: (step: Step) => void;
}

/**
 * Gets every needed step into the remote cache: steps only this machine can provide (cached here, or loading
 * the user's model files) are uploaded; the others are queued as soon as their inputs are there, all at once,
 * so independent steps (the baseline's eval and the passes, the variants of a sweep) run on workers side by
 * side. Throws QueueUnavailable when the queue or the remote cache fails: the caller builds the rest locally.
 */
async function distribute(
  plan: Plan,
  needed: Set<string>,
  workers: StepQueue,
  remote: RemoteCache,
  d: Distribution,
): Promise<void> {
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  const ready = new Map<string, Promise<void>>();
  const ensure = (step: Step): Promise<void> => {
    let p = ready.get(step.id);
    if (!p) ready.set(step.id, (p = provide(step)));
    return p;
  };
  const unreachable = () =>
    new QueueUnavailable(`the remote cache ${remote.shown} is unreachable, and workers deliver through it`);
  const provide = async (step: Step): Promise<void> => {
    if (d.remoteIndexed.has(step.id)) return;
    if (d.localOnly(step)) {
      // Workers read their inputs from the remote cache: what only this machine holds goes up first (a load
      // step computed here was uploaded as it was stored).
      const entry = await d.materialize(step);
      if (
        !(await remote.has(step.key, { signal: d.signal, countMiss: false })) &&
        !(await remote.write(step.key, entry, { signal: d.signal }))
      ) {
        throw remote.available
          ? new QueueUnavailable(`could not upload ${step.title} to the remote cache ${remote.shown}`)
          : unreachable();
      }
      d.remoteIndexed.add(step.id);
      return;
    }
    await Promise.all(step.inputs.map((id) => ensure(byId.get(id)!)));
    const job = stepJob(step, plan.recipe, plan.backend, (id) => byId.get(id)!.key);
    const reason = d.explain(step);
    const hooks = {
      signal: d.signal,
      onActive: (worker: string) =>
        d.emit({ type: 'step-start', step, reason: `${reason}; on worker ${worker}` } as const),
      onProgress: (message: string, fraction?: number) =>
        d.emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
    };
    d.emit({ type: 'step-progress', step, message: `queued for a worker (${workers.name} at ${workers.shown})` });
    let run = await workers.run(job, hooks);
    // A job that completed long ago (an older build's) may point at a result the cache server has since lost.
    if (!(await remote.has(step.key)) && remote.available) run = await workers.run(job, hooks, { replace: true });
    if (!(await remote.has(step.key))) {
      if (!remote.available) throw unreachable();
      throw new McbError(
        'MCB_REMOTE',
        `${step.title}: worker ${run.worker} finished the step but its result is not in the remote cache ${remote.shown}; start the workers with the build's --remote-cache URL (mcbuild worker --remote-cache ${remote.shown} …).`,
      );
    }
    d.remoteIndexed.add(step.id);
    if (!run.reused && !d.signal.aborted) {
      d.ran(step);
      d.emit({ type: 'step-done', step, seconds: run.seconds });
    }
  };
  // Needed steps this machine holds or loads itself are read here; they go up only as some worker's input.
  await Promise.all(
    [...needed]
      .map((id) => byId.get(id)!)
      .filter((step) => !d.localOnly(step))
      .map(ensure),
  );
}
