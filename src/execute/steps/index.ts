/**
 * How each kind of step computes its entry, from the step and its inputs' entries alone (a step carries
 * everything its run needs; no runner reads the recipe). Only reached on a cache miss; the TF.js engine is
 * loaded on first need, so a fully cached build never loads it.
 */
import type { CacheEntry } from '../../cache/index.js';
import type { Step } from '../../plan/index.js';
import { runEval, runLatency } from './eval.js';
import { runLoad, runTrain } from './model.js';
import { runPass } from './pass.js';
import type { StepRuntime } from './runtime.js';

export type { StepRuntime } from './runtime.js';
export { OUTPUTS_FILE } from './eval.js';

export function runStep(step: Step, inputs: CacheEntry[], rt: StepRuntime): Promise<CacheEntry> {
  const spec = step.spec;
  switch (spec.kind) {
    case 'load':
      return runLoad(step, spec);
    case 'train':
      return runTrain(step, spec, rt);
    case 'pass':
      return runPass(step, spec, inputs, rt);
    case 'eval':
      return runEval(step, spec, inputs, rt);
    case 'latency':
      return runLatency(step, spec, inputs, rt);
  }
}
