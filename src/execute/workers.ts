/**
 * Workers as a source (src/distributed/): a step is queued as soon as its inputs are in the remote cache, and
 * the entry is read from there once a worker uploaded it. Steps only this machine can provide (cached here, or
 * loading the user's model files) are uploaded as inputs. The executor asks for every needed step at once, so
 * independent steps (the baseline's eval and the passes, the variants of a sweep) run on workers side by side.
 *
 * When the queue or the remote cache fails, the workers are given up on for the rest of the build: steps in
 * flight stop being waited for, and the remaining ones are built here (the next source). Slower, never wrong.
 */
import type { CacheEntry } from '../cache/index.js';
import type { RemoteCache } from '../cache/remote.js';
import { queueCancelled, QueueUnavailable, type StepQueue } from '../distributed/coordinator.js';
import { stepJob } from '../distributed/job.js';
import { McbError } from '../errors.js';
import type { Step } from '../plan/index.js';
import { readRemote } from './remote.js';
import type { BuildState, StepSource } from './source.js';

export class WorkerSource implements StepSource {
  /** Each step's way into the remote cache, once. */
  private readonly ready = new Map<string, Promise<void>>();
  /** Aborted when the workers are given up on (or the build stops): in-flight waits end. */
  private readonly giveUp = new AbortController();
  private readonly onAbort = () => this.giveUp.abort();
  private closed = false;

  constructor(
    private readonly state: BuildState,
    private readonly workers: StepQueue,
    private readonly remote: RemoteCache,
  ) {
    state.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  async provide(step: Step): Promise<CacheEntry | undefined> {
    const s = this.state;
    if (this.closed || s.workersGone || this.localOnly(step)) return undefined;
    try {
      await this.ensure(step);
    } catch (e) {
      if (s.signal.aborted) throw queueCancelled();
      // Another step's failure gave the workers up already: this one is built here.
      if (s.workersGone) return undefined;
      s.workersGone = true;
      this.giveUp.abort();
      if (!(e instanceof QueueUnavailable)) throw e;
      s.emit({ type: 'warning', message: `${e.message}; the rest of this build runs here` });
      return undefined;
    }
    return readRemote(s, step);
  }

  /**
   * Ends the workers' part of the build (everything needed is in the remote cache, or they were given up on):
   * jobs in flight stop being waited for, so a job finishing late cannot count a step twice.
   */
  close(): void {
    this.closed = true;
    this.giveUp.abort();
    this.state.signal.removeEventListener('abort', this.onAbort);
  }

  /** Steps that run, or are read, on this machine: cached here, or reading the user's files (load). */
  private localOnly(step: Step): boolean {
    return this.state.indexed.has(step.id) || step.spec.kind === 'load';
  }

  private ensure(step: Step): Promise<void> {
    let p = this.ready.get(step.id);
    if (!p) this.ready.set(step.id, (p = this.intoRemote(step)));
    return p;
  }

  /** Gets the step's entry into the remote cache; throws QueueUnavailable when the queue or the cache fails. */
  private async intoRemote(step: Step): Promise<void> {
    const s = this.state;
    const remote = this.remote;
    const signal = this.giveUp.signal;
    if (s.remoteIndexed.has(step.id)) return;
    if (this.localOnly(step)) {
      // Workers read their inputs from the remote cache: what only this machine holds goes up first (a load
      // step computed here was uploaded as it was stored).
      const entry = await s.materialize(step);
      if (
        !(await remote.has(step.key, { signal, countMiss: false })) &&
        !(await remote.write(step.key, entry, { signal }))
      ) {
        throw remote.available
          ? new QueueUnavailable(`could not upload ${step.title} to the remote cache ${remote.shown}`)
          : this.unreachable();
      }
      s.remoteIndexed.add(step.id);
      return;
    }
    await Promise.all(step.inputs.map((id) => this.ensure(s.byId.get(id)!)));
    const job = stepJob(step, s.plan.backend, (id) => s.byId.get(id)!.key);
    const reason = s.explainMiss(step);
    const hooks = {
      signal,
      onActive: (worker: string) => s.emit({ type: 'step-start', step, reason: `${reason}; on worker ${worker}` }),
      onProgress: (message: string, fraction?: number) =>
        s.emit({ type: 'step-progress', step, message, ...(fraction === undefined ? {} : { fraction }) }),
    };
    s.emit({
      type: 'step-progress',
      step,
      message: `queued for a worker (${this.workers.name} at ${this.workers.shown})`,
    });
    let run = await this.workers.run(job, hooks);
    // A job that completed long ago (an older build's) may point at a result the cache server has since lost.
    if (!(await remote.has(step.key)) && remote.available) run = await this.workers.run(job, hooks, { replace: true });
    if (!(await remote.has(step.key))) {
      if (!remote.available) throw this.unreachable();
      throw new McbError(
        'MCB_REMOTE',
        `${step.title}: worker ${run.worker} finished the step but its result is not in the remote cache ${remote.shown}; start the workers with the build's --remote-cache URL (mcbuild worker --remote-cache ${remote.shown} …).`,
      );
    }
    s.remoteIndexed.add(step.id);
    if (!run.reused && !signal.aborted) {
      if (!s.ran.includes(step.id)) {
        s.ranRemotely.add(step.id);
        s.ran.push(step.id);
      }
      s.emit({ type: 'step-done', step, seconds: run.seconds });
    }
  }

  private unreachable(): QueueUnavailable {
    return new QueueUnavailable(`the remote cache ${this.remote.shown} is unreachable, and workers deliver through it`);
  }
}
