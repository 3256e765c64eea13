export { StepCache, LEASES_DIR, type CacheEntry, type DamageListener } from './store.js';
