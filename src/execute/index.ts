export { execute, cacheStatus, type Execution, type ExecuteOptions } from './execute.js';
export type { BuildEvent, EventListener } from './events.js';
export { runStep, OUTPUTS_FILE, type StepRuntime } from './steps/index.js';
export { localPool, poolCores, recipePool, StepPool, type PoolHooks } from './pool.js';
