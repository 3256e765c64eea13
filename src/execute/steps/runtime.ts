import type { SliceStore } from '../../data/index.js';
import type { Engine } from '../../engine/runtime.js';

/** What a step's run gets besides the step and its inputs' entries: the step itself carries the rest. */
export interface StepRuntime {
  // Plain functions (no `this`): the pass step hands them on to the pass's context.
  engine: () => Promise<Engine>;
  signal: AbortSignal;
  progress: (message: string, fraction?: number) => void;
  /** Where decoded data slices are kept between builds (the step cache); none: every build decodes. */
  slices?: SliceStore;
}
