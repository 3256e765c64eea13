export { execute, cacheStatus, type Execution, type ExecuteOptions } from './execute.js';
export type { BuildEvent, EventListener } from './events.js';
