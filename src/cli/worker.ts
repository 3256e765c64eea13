import { resolve } from 'node:path';
import { RemoteCache } from '../cache/remote.js';
import { checkQueueName, DEFAULT_QUEUE, parseRedisUrl } from '../distributed/redis.js';
import { runWorker, type StepRunner } from '../distributed/worker.js';
import { StepCache } from '../cache/index.js';
import { localPool, runStep, type StepPool } from '../execute/index.js';
import { wasmThreadCount } from '../engine/wasm-threads.js';
import { McbError } from '../errors.js';
import { CONFIG_FILE, loadProjectConfig } from '../recipe/project-config.js';
import { findProjectRoot } from '../recipe/index.js';
import { JOBS_OPTION, PLAN_OPTIONS, type Command } from './command.js';
import { jobsOption, threadsOption } from './common.js';
import { REMOTE_OPTIONS, remoteCacheOption } from './scale-out.js';

export const workerCommand: Command = {
  name: 'worker',
  summary:
    'take steps from the queue of builds run with --workers, compute them on the cores (side by side when several wait), upload the results to the remote cache (one per machine)',
  usage: 'mcbuild worker --redis URL --remote-cache URL [--cache-dir DIR] [--queue NAME] [--threads N] [--jobs N]',
  positionals: { name: 'no arguments', min: 0, max: 0 },
  options: {
    redis: {
      type: 'string',
      value: 'URL',
      description: `the Redis server the builds queue steps on (default: workers.redis in ${CONFIG_FILE})`,
    },
    ...REMOTE_OPTIONS,
    queue: {
      type: 'string',
      value: 'NAME',
      description: `queue name, as the builds give it (default: ${DEFAULT_QUEUE})`,
    },
    'cache-dir': {
      type: 'string',
      value: 'DIR',
      description: "this worker's local step cache (default: cache/ in the current project)",
    },
    threads: {
      ...PLAN_OPTIONS.threads!,
      description:
        'cores this worker computes on, 1 to 8: a step alone gets them all, steps side by side share them (default: MCBUILD_THREADS, else every core); workers × threads should not exceed the cores',
    },
    jobs: {
      ...JOBS_OPTION.jobs!,
      description:
        'jobs computed side by side at most, in processes of their own sharing --threads (default: one per core); 1: one at a time in this process',
    },
    'lock-seconds': {
      type: 'string',
      value: 'S',
      description:
        "a job whose worker stopped answering for this long goes to another worker (default 60; longer than any step's longest pause)",
    },
  },
  examples: [
    'mcbuild worker --redis redis://queue.internal:6379 --remote-cache http://cache.internal:8080/mcbuild',
    'MCBUILD_STEP_LOG=steps.jsonl mcbuild worker --redis redis://127.0.0.1:6379 --remote-cache http://127.0.0.1:8080 --cache-dir /var/cache/mcbuild',
  ],
  async run(ctx) {
    const root = findProjectRoot(resolve('mcbuild.config.yaml'));
    const config = await loadProjectConfig(root);
    const redisText = (ctx.values.redis as string | undefined) ?? config.workers?.redis;
    if (redisText === undefined)
      throw new McbError(
        'MCB_USAGE',
        `\`mcbuild worker\` needs the Redis server the builds queue on: --redis redis://host:6379 (or workers.redis in ${CONFIG_FILE}).`,
      );
    const redis = parseRedisUrl(
      redisText,
      ctx.values.redis !== undefined ? '--redis' : `workers.redis in ${config.file}`,
    );
    const queue = checkQueueName(
      (ctx.values.queue as string | undefined) ?? config.workers?.queue ?? DEFAULT_QUEUE,
      '--queue',
    );
    const log = (line: string) => {
      if (!ctx.out.quiet || line.startsWith('warning')) process.stderr.write(`mcbuild worker: ${line}\n`);
    };
    const remote: RemoteCache | undefined = remoteCacheOption(ctx, config, (m) => log(`warning: ${m}`));
    if (!remote || remote.mode !== 'readwrite') {
      throw new McbError(
        'MCB_USAGE',
        `\`mcbuild worker\` needs a remote cache it can upload to: --remote-cache URL (the builds' one)${remote ? ', without --remote-cache-mode read' : ''}. Results reach the builds through it.`,
      );
    }
    const threads = threadsOption(ctx.values.threads as string | undefined);
    const lockSeconds = positiveInt(ctx.values['lock-seconds'], '--lock-seconds', 60, 24 * 3600);
    const cacheDir = (ctx.values['cache-dir'] as string | undefined) ?? resolve(root, 'cache');
    // Several jobs at once go to a step pool, sharing the cores as a build's steps do (src/execute/pool.ts).
    const { jobs } = jobsOption(ctx);
    const pool = localPool(wasmThreadCount(threads), jobs);
    let summary;
    try {
      summary = await runWorker({
        redis,
        queue,
        remote,
        cacheDir,
        lockSeconds,
        ...(threads === undefined ? {} : { threads }),
        signal: ctx.signal,
        log,
        run: pool ? inPool(pool, cacheDir) : runStep,
        concurrency: pool?.jobs ?? 1,
      });
    } finally {
      pool?.close();
    }
    log(`stopped after ${summary.jobs} ${summary.jobs === 1 ? 'job' : 'jobs'} (${summary.failed} failed)`);
    return 0;
  },
};

/** Computes a job in the pool, whose child reads the inputs from and commits the result to the worker's cache. */
function inPool(pool: StepPool, cacheDir: string): StepRunner {
  const cache = new StepCache(cacheDir);
  return (_step, _inputs, rt) =>
    pool.compute(rt.job, cache, { signal: rt.signal, progress: (m, f) => rt.progress(m, f) });
}

function positiveInt(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new McbError('MCB_USAGE', `${name} must be a whole number from 1 to ${max} (got ${JSON.stringify(value)}).`);
  return n;
}
