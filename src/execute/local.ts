/**
 * The two local sources: the local cache (a committed entry, verified on read; a damaged one is a miss) and
 * this process, which computes a step under its key's lock (src/cache/lock.ts): builds sharing the cache wait
 * for one another instead of computing a step twice, and find the entry the holder stored as a hit.
 */
import { acquireKeyLock, describeOwner, type CacheEntry, type KeyLock } from '../cache/index.js';
import { logStep } from '../cache/step-log.js';
import type { Engine } from '../engine/runtime.js';
import { stepJob } from '../distributed/job.js';
import type { Step } from '../plan/index.js';
import type { StepPool } from './pool.js';
import { announceCached, type BuildState, type StepSource } from './source.js';
import { runStep } from './steps/index.js';

/** The entry committed in the local cache, when it verifies. */
export class LocalCacheSource implements StepSource {
  constructor(private readonly state: BuildState) {}

  async provide(step: Step): Promise<CacheEntry | undefined> {
    const s = this.state;
    // Another build on this cache may have stored it since this one planned.
    if (!s.indexed.has(step.id) && !(await s.cache.has(step.key))) return undefined;
    return readHit(s, step);
  }
}

async function readHit(s: BuildState, step: Step): Promise<CacheEntry | undefined> {
  const entry = await s.cache.read(step.key);
  if (!entry) {
    s.damaged.add(step.id);
    return undefined;
  }
  s.outputs.set(step.id, entry);
  announceCached(s, step);
  return entry;
}

/**
 * Computes steps here: in this process one at a time (TF.js work of one process shares one thread), or, with
 * a step pool (./pool.ts), side by side in child processes sharing the cores. Steps that time latency run in
 * this process either way, alone.
 */
export class LocalRunner implements StepSource {
  private engine: Promise<Engine> | undefined;
  /** The step computing now: the next waits for it (after its inputs, so a wait never holds a lock). */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly state: BuildState) {}

  get engineLoaded(): boolean {
    return this.engine !== undefined;
  }

  async provide(step: Step): Promise<CacheEntry> {
    const s = this.state;
    const inputs: CacheEntry[] = [];
    for (const id of step.inputs) inputs.push(await s.materialize(s.byId.get(id)!));
    if (s.pool) {
      const pool = s.pool;
      return step.spec.kind === 'latency'
        ? pool.exclusive(() => this.compute(step, inputs))
        : this.compute(step, inputs, pool);
    }
    const mine = this.turn.then(() => this.compute(step, inputs));
    this.turn = mine.catch(() => {});
    return mine;
  }

  /** Under the step key's lock, taken after the inputs: a build holds at most one lock, so two never deadlock. */
  private async compute(step: Step, inputs: CacheEntry[], pool?: StepPool): Promise<CacheEntry> {
    const s = this.state;
    let reason = s.damaged.has(step.id) ? 'cache entry was damaged' : s.explainMiss(step);
    let lock: KeyLock;
    try {
      lock = await acquireKeyLock(s.cache.dir, step.key, {
        signal: s.signal,
        onWait: (owner) =>
          s.emit({
            type: 'step-progress',
            step,
            message: `waiting for ${describeOwner(owner)}, which is computing this step`,
            ...(owner ? { waiting: { pid: owner.pid, host: owner.host } } : {}),
          }),
        onTakeover: (owner) =>
          s.emit({
            type: 'warning',
            message: `${step.id}: took over the lock of ${describeOwner(owner)}, which stopped while computing this step (its partial work was never committed)`,
          }),
      });
    } catch (error) {
      s.emit({ type: 'step-failed', step, error });
      throw error;
    }
    try {
      // The holder we waited for (or a build that finished just before we locked) stored it: a hit.
      if (await s.cache.has(step.key)) {
        const entry = await readHit(s, step);
        if (entry) return entry;
        reason = 'cache entry was damaged';
      }
      s.emit({ type: 'step-start', step, reason });
      const started = performance.now();
      let entry: CacheEntry;
      try {
        note(s, logStep('start', step));
        entry = pool ? await this.runInPool(step, pool) : await this.run(step, inputs);
        note(s, logStep('done', step));
      } catch (error) {
        s.emit({ type: 'step-failed', step, error });
        throw error;
      }
      s.outputs.set(step.id, entry);
      if (!s.ran.includes(step.id)) s.ran.push(step.id);
      s.emit({ type: 'step-done', step, seconds: (performance.now() - started) / 1000 });
      return entry;
    } finally {
      await lock.release();
    }
  }

  /** Runs the step and stores it, here and (in readwrite mode) in the remote cache. */
  private async run(step: Step, inputs: CacheEntry[]): Promise<CacheEntry> {
    const s = this.state;
    const entry = await runStep(step, inputs, {
      engine: () => this.loadEngine(),
      signal: s.signal,
      slices: s.cache,
      progress: (message, fraction) =>
        s.emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
    });
    // Written only after the step finished: a failed or cancelled step leaves nothing behind.
    await s.cache.write(step.key, entry);
    if (s.remote) await s.remote.write(step.key, entry, { signal: s.signal });
    return entry;
  }

  /** Runs the step in a child process of the pool, which commits it to the local cache; read and uploaded here. */
  private async runInPool(step: Step, pool: StepPool): Promise<CacheEntry> {
    const s = this.state;
    const job = stepJob(step, s.plan.backend, (id) => s.byId.get(id)!.key);
    const progress = (message: string, fraction?: number) =>
      s.emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) });
    let threads = 0;
    const entry = await pool.compute(job, s.cache, {
      signal: s.signal,
      progress,
      started: (n) => progress(`computing in a process of its own on ${(threads = n)} thread${n === 1 ? '' : 's'}`),
      // Said before the pool starts the next step: its cores are free from here.
      finished: () => progress(`computed on ${threads} thread${threads === 1 ? '' : 's'}; reading its entry`),
    });
    if (s.remote) await s.remote.write(step.key, entry, { signal: s.signal });
    return entry;
  }

  private loadEngine(): Promise<Engine> {
    this.engine ??= (async () => {
      const started = performance.now();
      const { loadEngine } = await import('../engine/runtime.js');
      const e = await loadEngine(this.state.plan.backend, this.state.plan.recipe.runtime.threads);
      this.state.emit({
        type: 'engine',
        backend: e.backend,
        threads: e.threads,
        seconds: (performance.now() - started) / 1000,
      });
      return e;
    })();
    return this.engine;
  }
}

function note(s: BuildState, warning: string | undefined): void {
  if (warning) s.emit({ type: 'warning', message: warning });
}
