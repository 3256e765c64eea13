/**
 * Steps computed side by side on this machine, each in a child process (./step-child.ts). TF.js work in one
 * process runs on one JavaScript thread and its wasm thread pool is sized once, when the backend starts, so
 * independent steps (a sweep's variants, a scan's trials) run in parallel only as processes of their own.
 *
 * The pool shares a budget of cores: a step starts with threads = free cores ÷ steps waiting (at least 1), so
 * steps × threads ≤ cores, and a step alone gets every core. Steps that measure latency run alone
 * (`exclusive`): nothing else computes while they time. Children are kept for the next step asking for the
 * same thread count, up to one per core.
 *
 * What a step computes does not depend on this schedule: a step is a function of its inputs, and the wasm
 * kernels give the same bytes at any thread count (test/engine/wasm-threads.test.ts). A child reads its
 * inputs from the local cache and commits its result there; the caller holds the step's key lock meanwhile.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StepJob } from '../distributed/job.js';
import { THREADS_ENV, wasmThreadCount } from '../engine/wasm-threads.js';
import type { CacheEntry, StepCache } from '../cache/index.js';
import { resolveBackend } from '../engine/backend.js';
import type { Backend, BackendChoice, Recipe } from '../recipe/index.js';
import { cancelled } from '../errors.js';
import { fromWire, type ChildMessage, type ParentMessage } from './step-wire.js';

export interface PoolHooks {
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
  /** When the step got its process and threads (it may have waited for cores). */
  started?(threads: number): void;
  /** When its process finished it, before its cores go to the next step. */
  finished?(): void;
}

interface Task {
  job?: { job: StepJob; cacheDir: string; hooks: PoolHooks };
  /** Work done in this process with every core, nothing else running. */
  alone?: () => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Child {
  process: ChildProcess;
  threads: number;
  /** The task it computes now: who listens, and what ends it. */
  current: { hooks: PoolHooks; settle(error?: unknown): void } | undefined;
  /** Last lines it wrote to stderr: part of the error when it dies. */
  stderr: string[];
}

export class StepPool {
  private readonly queue: Task[] = [];
  private readonly children = new Set<Child>();
  private busy = 0;
  private scheduled = false;
  private closed = false;

  /**
   * @param cores the budget: how many threads all running steps may use together (at least 2 to be useful).
   * @param opts.script the child's module; default: step-child.js beside this module's compiled form.
   */
  /** At most this many steps at once (each then gets at least cores ÷ jobs threads). */
  readonly jobs: number;
  private readonly script: string;
  private steps = 0;

  constructor(
    readonly cores: number,
    opts: { jobs?: number; script?: string } = {},
  ) {
    this.jobs = Math.max(1, Math.min(opts.jobs ?? cores, cores));
    this.script = opts.script ?? childScript();
  }

  /** Computes `job` in a child process, which stores its result in `cacheDir`; resolves when it is committed. */
  run(job: StepJob, cacheDir: string, hooks: PoolHooks): Promise<void> {
    return this.enqueue({ job: { job, cacheDir, hooks } }) as Promise<void>;
  }

  /** Computes `job` in a child process, which commits it to `cache`; returns the entry as committed (verified). */
  async compute(job: StepJob, cache: StepCache, hooks: PoolHooks): Promise<CacheEntry> {
    await this.run(job, cache.dir, hooks);
    const entry = await cache.read(job.step.key);
    if (!entry)
      throw new Error(`${job.step.title}: its process finished, but its entry is not in the cache ${cache.dir}`);
    return entry;
  }

  /** Runs `work` in this process once every running step has finished, and starts nothing until it is done. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.enqueue({ alone: work }) as Promise<T>;
  }

  /** Stops every child (steps still running fail as cancelled) and refuses further work. */
  close(): void {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(cancelled());
    for (const child of this.children) child.process.kill();
    this.children.clear();
  }

  private enqueue(task: Omit<Task, 'resolve' | 'reject'>): Promise<unknown> {
    if (this.closed) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      this.queue.push({ ...task, resolve, reject });
      this.schedule();
    });
  }

  /** Dispatches on the next turn, so steps asked for together (a sweep's variants) share the cores. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const task = this.queue[0]!;
      if (task.alone) {
        if (this.busy > 0) return;
        this.queue.shift();
        this.busy = this.cores;
        void task
          .alone()
          .then(
            (value) => task.resolve(value),
            (error: unknown) => task.reject(error),
          )
          .finally(() => this.release(this.cores));
        return;
      }
      const free = this.cores - this.busy;
      if (free <= 0 || this.steps >= this.jobs) return;
      const untilAlone = this.queue.findIndex((t) => t.alone);
      const waiting = Math.min(untilAlone < 0 ? this.queue.length : untilAlone, this.jobs - this.steps);
      const threads = Math.max(1, Math.floor(free / waiting));
      this.queue.shift();
      this.busy += threads;
      this.steps++;
      this.start(task, threads);
    }
  }

  private release(threads: number): void {
    this.busy -= threads;
    this.schedule();
  }

  private start(task: Task, threads: number): void {
    const { job, cacheDir, hooks } = task.job!;
    if (hooks.signal.aborted) {
      task.reject(cancelled());
      this.steps--;
      this.release(threads);
      return;
    }
    const child = this.childFor(threads);
    const onAbort = () => send(child, { type: 'cancel' });
    hooks.signal.addEventListener('abort', onAbort, { once: true });
    child.current = {
      hooks,
      settle: (error?: unknown) => {
        child.current = undefined;
        hooks.signal.removeEventListener('abort', onAbort);
        if (error === undefined) hooks.finished?.();
        if (error === undefined) task.resolve(undefined);
        else task.reject(error);
        this.steps--;
        this.release(threads);
      },
    };
    hooks.started?.(threads);
    send(child, { type: 'run', job, cacheDir });
  }

  /** An idle child with `threads` threads, else a new one (stopping an idle one of another count if at the limit). */
  private childFor(threads: number): Child {
    const idle = [...this.children].filter((c) => !c.current);
    const same = idle.find((c) => c.threads === threads);
    if (same) return same;
    if (this.children.size >= this.cores && idle.length > 0) {
      const other = idle[0]!;
      this.children.delete(other);
      other.process.kill();
    }
    return this.spawn(threads);
  }

  private spawn(threads: number): Child {
    const process_ = fork(this.script, [], {
      env: { ...process.env, [THREADS_ENV]: String(threads) },
      serialization: 'advanced',
      // stdout belongs to the parent (--json); the child's warnings go on to stderr.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const child: Child = { process: process_, threads, current: undefined, stderr: [] };
    this.children.add(child);
    process_.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      process.stderr.write(text);
      child.stderr.push(...text.split('\n').filter(Boolean));
      child.stderr.splice(0, Math.max(0, child.stderr.length - 20));
    });
    process_.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') child.current?.hooks.progress(m.message, m.fraction);
      else if (m.type === 'done') child.current?.settle();
      else child.current?.settle(fromWire(m.error));
    });
    process_.on('exit', (code, signal) => {
      this.children.delete(child);
      if (!child.current) return;
      const last = child.stderr.length ? `; its last words: ${child.stderr.slice(-5).join(' | ')}` : '';
      child.current.settle(
        new Error(
          `the process computing this step (pid ${process_.pid}) stopped with ${signal ?? `exit code ${code}`}${last}`,
        ),
      );
    });
    return child;
  }
}

function send(child: Child, message: ParentMessage): void {
  if (child.process.connected) child.process.send(message);
}

/** step-child.js beside this module when compiled; from the sources (tests), the compiled one in dist/. */
function childScript(): string {
  const beside = fileURLToPath(new URL('./step-child.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/src/execute/step-child.js', import.meta.url));
}

/**
 * The core budget for steps of `backend` computed side by side: the threads asked for (the recipe's
 * `runtime.threads`, --threads, MCBUILD_THREADS), else every core. tfjs-node sizes its own thread pool per
 * process, so its steps are not run side by side (1).
 */
export function poolCores(backend: Backend, threads?: number): number {
  return backend === 'tensorflow' ? 1 : wasmThreadCount(threads);
}

/**
 * A pool for steps computed side by side on `cores`, at most `jobs` at once (default: one per core), when there
 * are at least two cores and more than one job is allowed; else undefined (one step at a time here).
 */
export function localPool(cores: number, jobs?: number): StepPool | undefined {
  return cores >= 2 && (jobs ?? cores) >= 2 ? new StepPool(cores, { jobs: jobs ?? cores }) : undefined;
}

/** The pool for a recipe's steps side by side: its backend's cores, as --backend, --threads and --jobs say. */
export function recipePool(
  recipe: Recipe,
  opts: { backend?: BackendChoice; threads?: number; jobs?: number },
): StepPool | undefined {
  const backend = resolveBackend(opts.backend ?? recipe.runtime.backend);
  return localPool(poolCores(backend, opts.threads ?? recipe.runtime.threads), opts.jobs);
}
