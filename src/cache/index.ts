export { StepCache, type CacheEntry, type DamageListener } from './store.js';
export { LEASES_DIR, LOCKS_DIR } from './layout.js';
export {
  cacheState,
  listCache,
  cacheDiskUsage,
  type StepEntryInfo,
  type IncompleteEntry,
  type CacheListing,
} from './entries.js';
export { gcCache, type GcOptions, type GcResult, type RemovalReason } from './gc.js';
export { verifyCache, type VerifyResult } from './verify.js';
export type { SweepResult } from './sweep.js';
export { scanLeases, pidAlive, type Lease, type LeaseScan } from './leases.js';
export { parseDuration, formatAge } from './duration.js';
export {
  acquireKeyLock,
  describeOwner,
  lockPath,
  sweepLocks,
  LOCK_TIMING,
  type KeyLock,
  type LockOwner,
  type LockScan,
  type LockTiming,
  type AcquireOptions,
} from './lock.js';
