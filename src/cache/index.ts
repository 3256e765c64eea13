export { StepCache, LEASES_DIR, type CacheEntry, type DamageListener } from './store.js';
export { cacheState, listCache, cacheDiskUsage, type StepEntryInfo, type IncompleteEntry, type CacheListing } from './entries.js';
export { gcCache, verifyCache, type GcOptions, type GcResult, type VerifyResult, type SweepResult, type RemovalReason } from './gc.js';
export { scanLeases, pidAlive, type Lease, type LeaseScan } from './leases.js';
export { parseDuration, formatAge } from './duration.js';
