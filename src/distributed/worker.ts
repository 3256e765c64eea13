/**
 * `mcbuild worker`: takes step jobs from the BullMQ queue, runs each with the code a local build runs (handed
 * in as `run`: src/execute/steps/), stores the result in its own local cache and uploads it to the remote cache, the
 * one place the coordinator reads it from. A job is acknowledged only after the upload, so a worker that dies
 * mid-step leaves the job to BullMQ's stalled-job check, which hands it to another worker.
 *
 * Steps whose result is already in the remote cache are not computed again (a retried job another worker
 * finished, a job queued by an older build). Errors a user can fix (McbError) fail the job at once, with their
 * code, for the coordinator to report; anything else is retried on another attempt.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { StepCache, type CacheEntry } from '../cache/index.js';
import type { RemoteCache } from '../cache/remote.js';
import { isMcbError, McbError } from '../errors.js';
import type { Engine } from '../engine/runtime.js';
import type { SliceStore } from '../data/index.js';
import { logStep } from '../cache/step-log.js';
import { queueName, STARTED, type JobProgress, type JobResult } from './coordinator.js';
import type { Step } from '../plan/index.js';
import { openJob, type StepJob } from './job.js';
import { redisConnection, shownRedis } from './redis.js';

export interface WorkerOptions {
  redis: URL;
  queue: string;
  remote: RemoteCache;
  cacheDir: string;
  /** A job whose worker has not renewed its lock for this long is handed to another worker. */
  lockSeconds?: number;
  /** Threads of the wasm backend (default: MCBUILD_THREADS, else every core). */
  threads?: number;
  /**
   * Jobs taken at once (default 1). More than one only with a `run` that computes outside this process (a step
   * pool, src/execute/pool.ts): TF.js work here shares one thread pool and one global backend.
   */
  concurrency?: number;
  signal: AbortSignal;
  log(line: string): void;
  /** Computes a step from its inputs' entries, as a local build does (src/execute/steps/). */
  run: StepRunner;
}

/** How a step is computed; the worker only moves jobs, entries and progress. */
export type StepRunner = (
  step: Step,
  inputs: CacheEntry[],
  rt: {
    /** The job as queued (its backend and its inputs' keys), for a runner that hands it on. */
    job: StepJob;
    engine(): Promise<Engine>;
    signal: AbortSignal;
    progress(message: string, fraction?: number): void;
    slices?: SliceStore;
  },
) => Promise<CacheEntry>;

export interface WorkerSummary {
  jobs: number;
  failed: number;
}

/** Runs until `signal` aborts (then finishes the jobs in hand) or Redis is gone for good. */
export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const me = `${hostname()}/${process.pid}`;
  const cache = new StepCache(opts.cacheDir, (key, reason) =>
    opts.log(`warning: local cache entry ${key.slice(0, 12)} is unusable (${reason}); fetching it again`),
  );
  const summary: WorkerSummary = { jobs: 0, failed: 0 };
  // A stopped worker finishes the steps in hand: they are never cancelled, only abandoned (exit).
  const never = new AbortController().signal;
  let engine: Promise<Engine> | undefined;
  let engineBackend: string | undefined;

  const processJob = async (job: Job<StepJob, JobResult>): Promise<JobResult> => {
    const started = performance.now();
    let step: Step;
    try {
      step = openJob(job.data, job.id);
    } catch (e) {
      throw unrecoverable(e);
    }
    // Loading reads the user's files, which live with the coordinator (it runs those steps itself). A worker
    // reads no path a job names except dataset files, so a queue writer cannot make it upload arbitrary files.
    if (step.spec.kind === 'load')
      throw unrecoverable(
        new McbError(
          'MCB_REMOTE',
          `${step.title}: load steps read the user's model files and run on the build's own machine, never on a worker.`,
        ),
      );
    let lastReport = 0;
    const report = (message: string, fraction?: number) => {
      // Training reports every batch; the coordinator's renderer shows tenths. A few updates a second will do.
      const now = performance.now();
      if (message !== STARTED && now - lastReport < 200) return;
      lastReport = now;
      const progress: JobProgress = { worker: me, message, ...(fraction === undefined ? {} : { fraction }) };
      void job.updateProgress(progress as unknown as object).catch(() => {});
    };
    if (await opts.remote.has(step.key)) {
      opts.log(`${step.title} [${step.key.slice(0, 12)}]: already in the remote cache`);
      return { worker: me, seconds: 0, found: true };
    }
    if (!opts.remote.available) throw new Error(`the remote cache ${opts.remote.shown} is unreachable from ${me}`);
    // Computed here before (the remote cache has since lost it, or was emptied): upload, do not recompute.
    const mine = await cache.read(step.key);
    if (mine) {
      if (!(await opts.remote.write(step.key, mine)))
        throw new Error(`could not upload ${step.title} to the remote cache ${opts.remote.shown}`);
      opts.log(`${step.title} [${step.key.slice(0, 12)}]: uploaded from this worker's cache`);
      return { worker: me, seconds: (performance.now() - started) / 1000, found: true };
    }
    report(STARTED);
    opts.log(`${step.title} [${step.key.slice(0, 12)}]: started (attempt ${job.attemptsMade + 1})`);
    const inputs: CacheEntry[] = [];
    for (const input of job.data.inputs) {
      const local = await cache.read(input.key);
      const entry = local ?? (await opts.remote.read(input.key));
      // The coordinator queues a step only once its inputs are uploaded; missing means the remote lost them.
      if (!entry)
        throw new Error(
          `input ${input.id} [${input.key.slice(0, 12)}] is not in the remote cache ${opts.remote.shown}`,
        );
      if (!local) await cache.write(input.key, entry);
      inputs.push(entry);
    }
    try {
      const note = logStep('start', step);
      if (note) opts.log(`warning: ${note}`);
      const entry = await opts.run(step, inputs, {
        job: job.data,
        engine: () => {
          if (!engine || engineBackend !== job.data.backend) {
            engineBackend = job.data.backend;
            engine = import('../engine/runtime.js').then((m) => m.loadEngine(job.data.backend, opts.threads));
          }
          return engine;
        },
        signal: never,
        progress: report,
        slices: cache,
      });
      // A runner computing in a step pool has committed it here already.
      if (!(await cache.has(step.key))) await cache.write(step.key, entry);
      if (!(await opts.remote.write(step.key, entry))) {
        throw new Error(
          `could not upload the result to the remote cache ${opts.remote.shown}${opts.remote.mode === 'read' ? ' (the worker was started with --remote-cache-mode=read)' : ''}`,
        );
      }
      logStep('done', step);
      const seconds = (performance.now() - started) / 1000;
      opts.log(`${step.title} [${step.key.slice(0, 12)}]: done in ${seconds.toFixed(1)} s`);
      return { worker: me, seconds };
    } catch (e) {
      throw isMcbError(e) ? unrecoverable(e) : e;
    }
  };

  // Redis restarts (maintenance, failover) should not end a fleet of workers: retry for 10 minutes.
  const connection = redisConnection(opts.redis, { giveUpMs: 10 * 60_000 });
  try {
    await connection.connect();
  } catch (e) {
    connection.disconnect();
    throw new McbError(
      'MCB_REMOTE',
      `cannot reach Redis at ${shownRedis(opts.redis)} (${(e as { code?: string }).code ?? String(e)}); start it, or give its address with --redis redis://host:6379.`,
    );
  }
  const lockDuration = (opts.lockSeconds ?? 60) * 1000;
  const worker = new Worker<StepJob, JobResult>(queueName(opts.queue), processJob, {
    connection,
    // In this process, one step at a time: TF.js work shares the process's thread pool and its one global
    // backend (a second job on another backend would switch it under the first); its threads use the cores.
    // A runner computing in a step pool takes several, which share the cores by the pool's rule.
    concurrency: opts.concurrency ?? 1,
    lockDuration,
    stalledInterval: Math.max(1000, lockDuration / 2),
    maxStalledCount: 2,
    name: me,
    autorun: false,
  });
  worker.on('failed', (job, e) => {
    summary.failed++;
    opts.log(`${job?.data.step.title ?? job?.id ?? 'a job'}: failed: ${e.message}`);
  });
  worker.on('completed', () => summary.jobs++);
  // A Redis outage repeats its error at every reconnect attempt: say it once, and again only after recovery.
  let lastError: string | undefined;
  worker.on('error', (e) => {
    if (e.message !== lastError)
      opts.log(
        `warning: ${e.message}${/ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH/.test(e.message) ? ' (Redis unreachable; reconnecting for up to 10 minutes)' : ''}`,
      );
    lastError = e.message;
  });
  connection.on('ready', () => {
    if (lastError !== undefined) opts.log(`Redis at ${shownRedis(opts.redis)} is back`);
    lastError = undefined;
  });
  const gone = new Promise<void>((resolve) => connection.once('end', () => resolve()));
  const stopped = new Promise<void>((resolve) => {
    if (opts.signal.aborted) resolve();
    opts.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  opts.log(
    `worker ${me}: taking jobs from queue "${opts.queue}" at ${shownRedis(opts.redis)}, results to ${opts.remote.shown}, local cache ${opts.cacheDir}`,
  );
  const running = worker.run();
  const why = await Promise.race([
    stopped.then(() => 'stopped' as const),
    gone.then(() => 'gone' as const),
    running.then(() => 'closed' as const),
  ]);
  // A second Ctrl-C (or SIGTERM) exits at once (src/cli/main.ts): the jobs in hand go back to the queue when
  // their locks expire, and another worker computes them.
  if (why === 'stopped')
    opts.log(`worker ${me}: stopping after the jobs in hand (Ctrl-C again to leave them to other workers)`);
  // Finishing the jobs in hand needs Redis to acknowledge them: without it, close at once (they go back to the
  // queue when their locks expire) rather than wait for a Redis that may never return.
  await worker.close(why === 'gone' || connection.status !== 'ready');
  connection.disconnect();
  if (why === 'gone')
    throw new McbError(
      'MCB_REMOTE',
      `lost the connection to Redis at ${shownRedis(opts.redis)}; the jobs this worker held go back to the queue for other workers.`,
    );
  return summary;
}

/** A user error fails its job at once (no retry can fix it), carrying its code for the coordinator. */
function unrecoverable(e: unknown): UnrecoverableError {
  if (e instanceof McbError) return new UnrecoverableError(`${e.code}: ${e.message}`);
  return new UnrecoverableError(e instanceof Error ? e.message : String(e));
}
