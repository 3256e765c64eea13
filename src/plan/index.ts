export { plan } from './plan.js';
export {
  CACHE_FORMAT,
  METRICS_VERSION,
  type LayerPlan,
  type PassSpec,
  type Plan,
  type Step,
  type StepSpec,
} from './types.js';
export { gatherPlanInputs, type PlanInputs } from './inputs.js';
export { optionsPlace } from './places.js';
