export { StepCache, type CacheEntry, type DamageListener } from './store.js';
