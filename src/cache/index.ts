export { StepCache, LEASES_DIR, type CacheEntry, type DamageListener } from './store.js';
export {
  cacheState,
  listCache,
  cacheDiskUsage,
  type StepEntryInfo,
  type IncompleteEntry,
  type CacheListing,
} from './entries.js';
export {
  gcCache,
  verifyCache,
  type GcOptions,
  type GcResult,
  type VerifyResult,
  type SweepResult,
  type RemovalReason,
} from './gc.js';
export { scanLeases, pidAlive, type Lease, type LeaseScan } from './leases.js';
export { parseDuration, formatAge } from './duration.js';
export {
  acquireKeyLock,
  describeOwner,
  lockPath,
  sweepLocks,
  LOCKS_DIR,
  LOCK_TIMING,
  type KeyLock,
  type LockOwner,
  type LockScan,
  type LockTiming,
  type AcquireOptions,
} from './lock.js';
