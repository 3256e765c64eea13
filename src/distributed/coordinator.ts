/**
 * The coordinator's side of distributed execution: the normal build keeps its DAG and hands each step that is
 * ready to a BullMQ queue on Redis, as a job whose id is the step key. BullMQ refuses a second job with an id
 * it holds, so two builds (or two variants of a sweep) that need one step share one job: a step is computed
 * once however many builds wait for it. Workers (src/distributed/worker.ts) upload results to the remote
 * cache and report progress, which arrives here as the same events a local step emits.
 *
 * Redis failing is not a build failure: connect() and run() throw QueueUnavailable, and the executor builds
 * the rest locally (src/execute/execute.ts). A step that fails on a worker fails the build as it would locally.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { cancelled, EmptyPassError, isCancelled, McbError, type ErrorCode } from '../errors.js';
import { MCBUILD_VERSION } from '../version.js';
import { JOB_FORMAT, type StepJob } from './job.js';
import { DEFAULT_QUEUE, redisConnection, shownRedis } from './redis.js';

export interface RunHooks {
  signal: AbortSignal;
  /** The worker that took the job ("host/pid"), once it starts. */
  onActive(worker: string): void;
  onProgress(message: string, fraction?: number): void;
}

export interface RemoteRun {
  worker: string;
  seconds: number;
  /** The job had already completed (another build queued it): nothing ran for this build. */
  reused: boolean;
}

/** What a worker reports through job.updateProgress(). */
export interface JobProgress {
  worker: string;
  message: string;
  fraction?: number;
}

/** What a worker's processor returns. */
export interface JobResult {
  worker: string;
  seconds: number;
  /** The result was in the remote cache already (a retried job another worker finished). */
  found?: boolean;
}

/** The queue cannot be used (Redis unreachable, connection lost): build locally instead. */
export class QueueUnavailable extends Error {}

export interface StepQueueOptions {
  url: URL;
  queue?: string;
  onWarning?: (message: string) => void;
  /** How long a lost Redis is retried before the build goes on locally. */
  giveUpMs?: number;
  /** A step waiting this long with no worker connected is built here instead (default 120 s). */
  noWorkerSeconds?: number;
}

/** How often a waited-for job's state is looked up besides listening for its events. */
const POLL_MS = 2_000;

/**
 * The queue's name in Redis carries mcbuild's version (it is in every step key) and the job format: workers of
 * another release never see this build's jobs, and the build says no worker is connected instead of failing
 * on them.
 */
export function queueName(name: string): string {
  return `${name}-v${MCBUILD_VERSION}-j${JOB_FORMAT}`;
}

/** Attempts per job: a worker that dies mid-step (or whose step crashed) leaves the job to another. */
export const JOB_ATTEMPTS = 3;

export class StepQueue {
  private readonly listeners = new Map<string, Set<(p: JobProgress) => void>>();
  private readonly inflight = new Map<string, Promise<RemoteRun>>();
  private askedForWorkers = false;
  private workersCheckedAt = 0;
  private noWorkersSince: number | undefined;
  private lost: QueueUnavailable | undefined;
  private readonly onLost = new Set<(e: QueueUnavailable) => void>();

  private constructor(
    readonly shown: string,
    readonly name: string,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
    private readonly warn: (message: string) => void,
    private readonly noWorkerMs: number,
  ) {
    events.on('progress', ({ jobId, data }) => {
      const progress = data as Partial<JobProgress> | undefined;
      if (typeof progress?.worker !== 'string' || typeof progress.message !== 'string') return;
      for (const l of this.listeners.get(jobId) ?? []) l(progress as JobProgress);
    });
    for (const c of connections) {
      c.on('end', () => {
        this.lost ??= new QueueUnavailable(`lost the connection to Redis at ${shown}`);
        for (const l of this.onLost) l(this.lost);
      });
    }
  }

  /** Connects, or throws QueueUnavailable saying why. */
  static async connect(opts: StepQueueOptions): Promise<StepQueue> {
    const shown = shownRedis(opts.url);
    const name = opts.queue ?? DEFAULT_QUEUE;
    const connections = [
      redisConnection(opts.url, { giveUpMs: opts.giveUpMs ?? 15_000 }),
      redisConnection(opts.url, { giveUpMs: opts.giveUpMs ?? 15_000 }),
    ];
    try {
      await Promise.all(connections.map((c) => c.connect()));
    } catch (e) {
      for (const c of connections) c.disconnect();
      throw new QueueUnavailable(`cannot reach Redis at ${shown} (${describe(e)})`);
    }
    // bullmq is loaded by the builds that use workers only: it cost every command ~0.1 s to start.
    const { Queue, QueueEvents } = await import('bullmq');
    const queue = new Queue(queueName(name), { connection: connections[0]! });
    const events = new QueueEvents(queueName(name), { connection: connections[1]! });
    // Without listeners BullMQ prints every reconnect error with its stack; a lost Redis is reported once,
    // through the connections' 'end' (the build then goes on here).
    queue.on('error', () => {});
    events.on('error', () => {});
    try {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close()]);
      for (const c of connections) c.disconnect();
      throw new QueueUnavailable(`Redis at ${shown} does not serve the queue (${describe(e)})`);
    }
    return new StepQueue(
      shown,
      name,
      queue,
      events,
      connections,
      opts.onWarning ?? (() => {}),
      (opts.noWorkerSeconds ?? 120) * 1000,
    );
  }

  /**
   * Queues the step (or joins the job already queued under its key) and resolves when a worker has finished
   * it. With `replace`, a completed job is queued again (its result was not found in the remote cache).
   */
  async run(job: StepJob, hooks: RunHooks, opts: { replace?: boolean } = {}): Promise<RemoteRun> {
    if (this.lost) throw this.lost;
    const id = job.step.key;
    // Variants of a sweep built at once need the same steps (the baseline): the first queues it, the others
    // wait for that job and count it as a hit, as a local build finds a step another build computed.
    const shared = this.inflight.get(id);
    if (shared && !opts.replace) {
      try {
        const done = await shared;
        return { ...done, reused: true };
      } catch (e) {
        // The variant that queued it gave up on the queue (its own fallback), not this one: wait for it here.
        if (!isCancelled(e) || hooks.signal.aborted) throw e;
      }
    }
    const own = this.start(job, hooks, opts);
    this.inflight.set(id, own);
    try {
      return await own;
    } finally {
      if (this.inflight.get(id) === own) this.inflight.delete(id);
    }
  }

  private async start(job: StepJob, hooks: RunHooks, opts: { replace?: boolean }): Promise<RemoteRun> {
    const id = job.step.key;
    let joined = false;
    const listener = (p: JobProgress) => {
      if (joined) return; // another build's job: its progress is that build's to show
      if (p.message === STARTED) hooks.onActive(p.worker);
      else hooks.onProgress(p.message, p.fraction);
    };
    const listeners = this.listeners.get(id) ?? new Set();
    listeners.add(listener);
    this.listeners.set(id, listeners);
    let stop: (() => void) | undefined;
    try {
      const existing = await this.queue.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed' && !opts.replace) {
          const r = existing.returnvalue as Partial<JobResult> | undefined;
          return { worker: r?.worker ?? 'a worker', seconds: r?.seconds ?? 0, reused: true };
        }
        // Queued or running for another build: wait for it, and count it as that build's work.
        if (state !== 'failed' && state !== 'completed') joined = true;
        // A failed job is kept by BullMQ (and would block its id): this build tries the step anew.
        if (state === 'failed' || state === 'completed') await existing.remove();
      }
      // Said when the first step is queued, not at connection: a build whose steps are all cached needs no worker.
      if (!this.askedForWorkers) {
        this.askedForWorkers = true;
        if ((await this.queue.getWorkers()).length === 0)
          this.warn(
            `no worker is connected to queue "${this.name}" at ${this.shown}; steps wait until one starts (mcbuild worker --redis ${this.shown} --remote-cache URL)`,
          );
      }
      const added = await this.queue.add(job.step.id, job, {
        jobId: id,
        attempts: JOB_ATTEMPTS,
        backoff: { type: 'fixed', delay: 1_000 },
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600, count: 10_000 },
      });
      const interrupted = new Promise<never>((_, reject) => {
        const onAbort = () => reject(queueCancelled());
        const onLost = (e: QueueUnavailable) => reject(e);
        hooks.signal.addEventListener('abort', onAbort, { once: true });
        this.onLost.add(onLost);
        stop = () => {
          hooks.signal.removeEventListener('abort', onAbort);
          this.onLost.delete(onLost);
        };
        if (hooks.signal.aborted) onAbort();
      });
      let result: Partial<JobResult> | undefined;
      const polling = new AbortController();
      try {
        result = (await Promise.race([
          added.waitUntilFinished(this.events),
          this.poll(id, polling.signal),
          interrupted,
        ])) as Partial<JobResult> | undefined;
      } catch (e) {
        if (e instanceof McbError || e instanceof QueueUnavailable) throw e;
        throw failure(job, e);
      } finally {
        polling.abort();
      }
      return {
        worker: result?.worker ?? 'a worker',
        seconds: result?.seconds ?? 0,
        reused: joined || result?.found === true,
      };
    } catch (e) {
      if (e instanceof McbError || e instanceof QueueUnavailable) throw e;
      throw new QueueUnavailable(`the queue at ${this.shown} failed (${describe(e)})`);
    } finally {
      stop?.();
      listeners.delete(listener);
      if (listeners.size === 0) this.listeners.delete(id);
    }
  }

  /**
   * The job's end as its state says, looked up every POLL_MS: the completion event is the fast path, this the
   * safety net (a lagging or reconnected event stream must not leave a build waiting for a job that is done).
   * A job gone from the queue (removed by hand, or by age) resolves as finished: the caller checks the cache.
   */
  private async poll(id: string, signal: AbortSignal): Promise<Partial<JobResult> | undefined> {
    for (;;) {
      await sleep(POLL_MS, undefined, { signal }).catch(() => {});
      if (signal.aborted) return new Promise<never>(() => {});
      let found, state;
      try {
        found = await this.queue.getJob(id);
        state = await found?.getState();
      } catch {
        continue; // Redis hiccup: a lost connection is reported through onLost, not here
      }
      if (!found) return undefined;
      if (state === 'completed') return found.returnvalue as Partial<JobResult> | undefined;
      if (state === 'failed') throw new Error(found.failedReason);
      // A job being run has a worker, whatever the worker list says (some Redis services hide client names).
      if (state === 'active') this.noWorkersSince = undefined;
      else
        await this.checkWorkers().catch((e: unknown) => {
          if (e instanceof QueueUnavailable) throw e;
        });
    }
  }

  /**
   * Only workers move a dead worker's job on (BullMQ's stalled check runs in them): with none connected, a
   * job waits for ever. After noWorkerMs without any, the build stops waiting and builds here.
   */
  private async checkWorkers(): Promise<void> {
    if (Date.now() - this.workersCheckedAt < Math.min(15_000, this.noWorkerMs / 2)) return;
    this.workersCheckedAt = Date.now();
    if ((await this.queue.getWorkers()).length > 0) {
      this.noWorkersSince = undefined;
      return;
    }
    this.noWorkersSince ??= Date.now();
    if (Date.now() - this.noWorkersSince >= this.noWorkerMs) {
      throw new QueueUnavailable(
        `no worker has been connected to queue "${this.name}" at ${this.shown} for ${Math.round(this.noWorkerMs / 1000)} s`,
      );
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.events.close()]);
    for (const c of this.connections) c.disconnect();
  }
}

/** Codes a worker's environment causes rather than the build: the build then runs the step itself. */
const WORKER_SIDE = new Set(['MCB_OUTPUT', 'MCB_BACKEND', 'MCB_DATASET', 'MCB_MODEL_NOT_FOUND', 'MCB_REMOTE']);

/** A build cancelled while it waits on jobs: the jobs themselves go on. */
export function queueCancelled(): McbError {
  return cancelled(
    'the build was cancelled; queued steps go on on the workers and their results stay in the remote cache for the next build.',
  );
}

/** The progress message a worker sends when it takes a job. */
export const STARTED = 'started';

/**
 * A worker's failure as the build sees it. A user error (a coded McbError) is the build's error, with its code
 * and words, as it would be locally. Anything else failed every attempt on the workers (a lost upload, a worker
 * short of memory, a crash): this build computes the step itself, so the workers cannot fail a build that could
 * succeed here (a real bug then fails here too, with its stack).
 */
export function failure(job: Pick<StepJob, 'step'>, e: unknown): McbError | QueueUnavailable {
  const reason = e instanceof Error ? e.message : String(e);
  const coded = /^(MCB_[A-Z_]+): ([\s\S]*)$/.exec(reason);
  // Errors of the worker's own machine (its disk, its backend, its files, its version) say nothing about the
  // build: this machine tries the step itself, and a real problem with the recipe or data shows up here too.
  if (coded && !WORKER_SIDE.has(coded[1]!)) {
    // A pass that changed nothing stays that (a sweep reports it as its variant's result and goes on).
    if (coded[1] === 'MCB_RECIPE_INVALID' && job.step.spec.kind === 'pass' && coded[2]!.includes(EmptyPassError.PHRASE))
      return new EmptyPassError(job.step.id, coded[2]!);
    return coded[1] === 'MCB_CANCELLED' ? cancelled(coded[2]) : new McbError(coded[1] as ErrorCode, coded[2]!);
  }
  if (coded) return new QueueUnavailable(`${job.step.title} failed on a worker: ${coded[2]!}`);
  return new QueueUnavailable(
    `${job.step.title} failed on the workers after ${JOB_ATTEMPTS} attempts (${reason}; the workers' output has the details)`,
  );
}

function describe(e: unknown): string {
  const code = (e as { code?: string } | undefined)?.code;
  return code ?? (e instanceof Error ? e.message : String(e));
}
