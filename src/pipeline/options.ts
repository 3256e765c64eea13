/** What a pipeline run of one recipe variant takes: where to cache, which backend, where to write, who listens. */
import type { KeyObject } from 'node:crypto';
import type { RemoteCache } from '../cache/remote.js';
import type { StepQueue } from '../distributed/coordinator.js';
import type { EventListener, StepPool } from '../execute/index.js';
import type { BackendChoice, LoadOptions } from '../recipe/index.js';

export interface PlanOptions extends LoadOptions {
  /** Cache folder; default `cache/` at the project root. */
  cacheDir?: string;
  /** Overrides `runtime.backend`. */
  backend?: BackendChoice;
  /** Overrides `runtime.threads`. */
  threads?: number;
  /** Gather the baseline's layers even without overrides (`explain`, `sensitivity`). */
  layers?: boolean;
  /** A pass that changes nothing is recorded in its step, not an error (the scan's and the search's trials). */
  allowEmptyPasses?: boolean;
}

export interface BuildOptions extends PlanOptions {
  /** Overrides the recipe's `output`. */
  output?: string;
  signal?: AbortSignal;
  onEvent?: EventListener;
  /** An ed25519 private key (src/provenance/manifest.ts loadPrivateKey): the output's manifest.json is signed with it. */
  signKey?: KeyObject;
  /** The shared cache (src/cache/remote.ts): asked after the local cache; computed steps are uploaded. */
  remote?: RemoteCache;
  /** Workers to compute steps on (src/distributed/coordinator.ts); needs `remote`. */
  workers?: StepQueue;
  /** The most steps computed side by side here (a pool's); 1: one at a time in this process. Default: the cores. */
  jobs?: number;
  /** Child processes computing this machine's steps side by side (src/execute/pool.ts), shared by builds run at once. */
  pool?: StepPool;
}
