export { plan, CACHE_FORMAT, METRICS_VERSION, type Plan, type Step, type StepSpec } from './plan.js';
export { gatherPlanInputs, type PlanInputs } from './inputs.js';
