/** `mcbuild cache verify`: every committed entry read and checked against its hashes, then the content sweep. */
import { cacheDiskUsage, cacheState, listCache, removeIndexKey } from './entries.js';
import { scanLeases } from './leases.js';
import { StepCache } from './store.js';
import { cleanLocks, describeLeases, sweep, type LocksResult, type SweepResult } from './sweep.js';

export interface VerifyResult {
  cacheDir: string;
  /** Committed entries read and checked. */
  checked: number;
  ok: number;
  removed: { key: string; reason: string }[];
  /** Entries a killed build never committed (`cache gc` removes them). */
  incomplete: number;
  liveLeases: { pid: number; keys: number | 'unreadable' }[];
  staleLeases: { file: string; pid: number }[];
  unknownLeaseFiles: string[];
  locks: LocksResult;
  sweep: SweepResult;
  reclaimedBytes: number;
}

/**
 * Reads every committed entry through StepCache.read, which checks every file against its hash and drops an
 * entry that fails; then sweeps content (cacache.verify) when no build runs. The cache is consistent after.
 */
export async function verifyCache(dir: string): Promise<VerifyResult> {
  const result: VerifyResult = {
    cacheDir: dir,
    checked: 0,
    ok: 0,
    removed: [],
    incomplete: 0,
    liveLeases: [],
    staleLeases: [],
    unknownLeaseFiles: [],
    locks: { live: [], stale: [], leftovers: 0 },
    sweep: { ran: false, unreferencedFiles: 0, corruptFiles: 0, droppedIndexLines: 0, tmpFiles: 0 },
    reclaimedBytes: 0,
  };
  if ((await cacheState(dir)) !== 'cache') {
    result.sweep.skipped = 'the cache is empty';
    return result;
  }
  const leases = await scanLeases(dir);
  describeLeases(leases, result);
  // A verified cache has no lock a dead build left (a waiting build would take it over anyway).
  result.locks = await cleanLocks(dir, false);
  const before = await cacheDiskUsage(dir);
  const listing = await listCache(dir);
  const damaged = new Map<string, string>();
  const cache = new StepCache(dir, (key, reason) => damaged.set(key, reason));
  for (const e of listing.steps) {
    result.checked++;
    const got = await cache.read(e.key);
    if (got !== undefined) {
      result.ok++;
      continue;
    }
    // undefined and no damage report: removed by someone else while we looked; nothing to do.
    const reason = damaged.get(e.key);
    if (reason === undefined) continue;
    result.removed.push({ key: e.key, reason });
    // StepCache dropped the step line and the entry's content; its file lines now point at nothing.
    for (const f of listing.fileKeys.get(e.key) ?? []) await removeIndexKey(dir, f.indexKey);
  }
  result.incomplete = listing.incomplete.length;
  result.sweep = await sweep(dir);
  result.reclaimedBytes = Math.max(0, before - (await cacheDiskUsage(dir)));
  return result;
}
