import type { Engine } from '../../engine/runtime.js';

/** What a step's run gets besides the step and its inputs' entries: the step itself carries the rest. */
export interface StepRuntime {
  engine(): Promise<Engine>;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
}
