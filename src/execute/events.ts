import type { Plan, Step } from '../plan/index.js';
import type { Backend } from '../recipe/index.js';

/**
 * Everything a build reports while it runs. The terminal renderers, the JSON output and (later) watch mode
 * all listen to these; none of them reaches into the executor.
 */
export type BuildEvent =
  | { type: 'plan'; plan: Plan; cached: ReadonlySet<string> }
  | { type: 'engine'; backend: Backend; seconds: number }
  | { type: 'step-cached'; step: Step }
  | { type: 'step-start'; step: Step; reason: string }
  /** With `waiting`: another build (this pid, on this host) holds the step's lock and is computing it. */
  | { type: 'step-progress'; step: Step; message: string; fraction?: number; waiting?: { pid: number; host: string } }
  | { type: 'step-done'; step: Step; seconds: number }
  | { type: 'step-failed'; step: Step; error: unknown }
  | { type: 'warning'; message: string };

export type EventListener = (event: BuildEvent) => void;
