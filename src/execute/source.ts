/**
 * Where a build gets the entry of a step it needs. The executor asks its sources in turn — the local cache,
 * the remote cache, the workers, and last this process, which computes — and the first that has or makes the
 * entry wins (src/execute/execute.ts). Each source is one small module; they share the build's state.
 */
import type { CacheEntry, StepCache } from '../cache/index.js';
import type { RemoteCache } from '../cache/remote.js';
import type { Plan, Step } from '../plan/index.js';
import type { EventListener } from './events.js';
import type { StepPool } from './pool.js';

export interface StepSource {
  /** The step's entry when this source has it or makes it; undefined passes the step on to the next source. */
  provide(step: Step): Promise<CacheEntry | undefined>;
}

/** What the sources of one build share: the plan, the caches, what is known and what happened so far. */
export interface BuildState {
  plan: Plan;
  byId: ReadonlyMap<string, Step>;
  cache: StepCache;
  remote?: RemoteCache;
  /** Child processes to compute steps in, side by side (./pool.ts); without it, one at a time in this process. */
  pool?: StepPool;
  signal: AbortSignal;
  emit: EventListener;
  /** Entries read or computed so far, by step id. */
  outputs: Map<string, CacheEntry>;
  /** Steps committed in the local cache when the build started. */
  indexed: Set<string>;
  /** Steps missing here whose action record the remote cache holds (nothing downloaded yet). */
  remoteIndexed: Set<string>;
  /** Steps computed for this build (here or on a worker), and steps read from a cache, in any order. */
  ran: string[];
  cached: string[];
  /** Steps a worker computed for this build: they are read from the remote cache, but they ran. */
  ranRemotely: Set<string>;
  /** Steps whose local entry failed to verify: the step-start event says so. */
  damaged: Set<string>;
  /** Set once the workers are given up on: jobs they still finish land in the remote cache. */
  workersGone: boolean;
  /** The entry of a step through every source in turn (each step is materialised once). */
  materialize(step: Step): Promise<CacheEntry>;
  /** Why a step is not cached, in words, for the step-start event. */
  explainMiss(step: Step): string;
}

/** Records a step read from a cache (once, and never one that ran for this build). */
export function announceCached(state: BuildState, step: Step, from?: 'remote'): void {
  if (state.cached.includes(step.id) || state.ranRemotely.has(step.id)) return;
  state.cached.push(step.id);
  state.emit({ type: 'step-cached', step, ...(from ? { from } : {}) });
}
