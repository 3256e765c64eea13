import type { Plan, Step } from '../plan/index.js';
import type { Backend } from '../recipe/index.js';

/**
 * Everything a build reports while it runs. The terminal renderers, the JSON output and (later) watch mode
 * all listen to these; none of them reaches into the executor.
 */
export type BuildEvent = BuildEventBody & {
  /** The matrix variant the event belongs to, when variants build at once (workers, a local pool). */
  variant?: string;
};

type BuildEventBody =
  /** `cached` counts remote hits too; `remote` names them (with a remote cache). */
  | { type: 'plan'; plan: Plan; cached: ReadonlySet<string>; remote?: ReadonlySet<string> }
  | { type: 'engine'; backend: Backend; threads: number; seconds: number }
  /** With `from: 'remote'`: downloaded from the remote cache (verified). */
  | { type: 'step-cached'; step: Step; from?: 'remote' }
  | { type: 'step-start'; step: Step; reason: string }
  /** With `waiting`: another build (this pid, on this host) holds the step's lock and is computing it. */
  | { type: 'step-progress'; step: Step; message: string; fraction?: number; waiting?: { pid: number; host: string } }
  | { type: 'step-done'; step: Step; seconds: number }
  | { type: 'step-failed'; step: Step; error: unknown }
  | { type: 'warning'; message: string };

export type EventListener = (event: BuildEvent) => void;
