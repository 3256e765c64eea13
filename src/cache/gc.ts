/**
 * `mcbuild cache gc`: removing whole step entries (by age, by total size, or never committed), then sweeping
 * content no entry points at (./sweep.ts). An entry a running build holds (a live lease names its key) is never
 * removed.
 */
import {
  cacheDiskUsage,
  cacheState,
  listCache,
  removeIndexKey,
  type CacheListing,
  type StepEntryInfo,
} from './entries.js';
import { cacache } from './cacache.js';
import { heldKeys, removeLease, scanLeases } from './leases.js';
import { cleanLocks, describeLeases, sweep, type LocksResult, type SweepResult } from './sweep.js';

export type RemovalReason = 'max-age' | 'max-size' | 'incomplete';

export interface GcOptions {
  /** Remove oldest entries until the total is at most this many bytes. */
  maxSize?: number;
  /** Remove entries neither written nor reused (a hit refreshes an entry hourly) for longer than this (ms). */
  maxAge?: number;
  dryRun?: boolean;
  /** For tests: the current time. */
  now?: number;
}

export interface GcResult {
  cacheDir: string;
  dryRun: boolean;
  limits: { maxSize?: number; maxAge?: number };
  removed: { key: string; size: number; time: number; reason: RemovalReason }[];
  /** Entries the limits would remove, kept because a running build holds them. */
  held: { key: string; size: number; time: number; reason: RemovalReason; pids: number[] }[];
  kept: { entries: number; bytes: number };
  /** Whether the kept entries still exceed max-size (because running builds hold them). */
  overMaxSize: boolean;
  staleLeases: { file: string; pid: number }[];
  liveLeases: { pid: number; keys: number | 'unreadable' }[];
  unknownLeaseFiles: string[];
  locks: LocksResult;
  sweep: SweepResult;
  /** Bytes freed on disk (content and index); in a dry run, an estimate of the content. */
  reclaimedBytes: number;
}

export async function gcCache(dir: string, opts: GcOptions = {}): Promise<GcResult> {
  const now = opts.now ?? Date.now();
  const dryRun = opts.dryRun === true;
  const result: GcResult = {
    cacheDir: dir,
    dryRun,
    limits: {
      ...(opts.maxSize === undefined ? {} : { maxSize: opts.maxSize }),
      ...(opts.maxAge === undefined ? {} : { maxAge: opts.maxAge }),
    },
    removed: [],
    held: [],
    kept: { entries: 0, bytes: 0 },
    overMaxSize: false,
    staleLeases: [],
    liveLeases: [],
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
  if (!dryRun) for (const l of leases.stale) await removeLease(l);
  result.locks = await cleanLocks(dir, dryRun);
  const held = heldKeys(leases);
  const isHeld = (key: string) => held === 'all' || held.has(key);
  const holders = (key: string) =>
    leases.live.filter((l) => l.keys === undefined || l.keys.includes(key)).map((l) => l.pid);

  const listing = await listCache(dir);
  const victims: { entry: StepEntryInfo; reason: RemovalReason }[] = [];
  const remaining: StepEntryInfo[] = [];
  const hold = (e: { key: string; size: number; time: number }, reason: RemovalReason) =>
    result.held.push({ key: e.key, size: e.size, time: e.time, reason, pids: holders(e.key) });

  for (const e of listing.steps) {
    if (opts.maxAge !== undefined && now - e.time > opts.maxAge) {
      if (isHeld(e.key)) {
        hold(e, 'max-age');
        remaining.push(e);
      } else victims.push({ entry: e, reason: 'max-age' });
    } else remaining.push(e);
  }
  if (opts.maxSize !== undefined) {
    let total = remaining.reduce((n, e) => n + e.size, 0);
    const kept: StepEntryInfo[] = [];
    // Oldest first (listCache sorts by commit time).
    for (const e of remaining) {
      if (total <= opts.maxSize || result.held.some((h) => h.key === e.key)) {
        kept.push(e);
      } else if (isHeld(e.key)) {
        hold(e, 'max-size');
        kept.push(e);
      } else {
        victims.push({ entry: e, reason: 'max-size' });
        total -= e.size;
      }
    }
    result.overMaxSize = total > opts.maxSize;
    remaining.splice(0, remaining.length, ...kept);
  }
  result.kept = { entries: remaining.length, bytes: remaining.reduce((n, e) => n + e.size, 0) };

  // Files of steps never committed: no build can read them; a running build writing them holds their key.
  const incomplete = listing.incomplete.filter((i) => !isHeld(i.key));

  for (const v of victims)
    result.removed.push({ key: v.entry.key, size: v.entry.size, time: v.entry.time, reason: v.reason });
  for (const i of incomplete) result.removed.push({ key: i.key, size: i.size, time: i.time, reason: 'incomplete' });

  const gone = new Set<string>();
  for (const v of victims) {
    gone.add(v.entry.meta.integrity);
    for (const f of v.entry.files) gone.add(f.integrity);
  }
  for (const i of incomplete) for (const f of i.entries) gone.add(f.integrity);

  if (dryRun) {
    result.reclaimedBytes = estimateFreed(
      listing,
      victims.map((v) => v.entry.key),
      incomplete.map((i) => i.key),
      gone,
    );
    result.sweep.skipped = 'dry run';
    return result;
  }

  const before = await cacheDiskUsage(dir);
  for (const v of victims) {
    // Uncommit first: if gc is killed halfway, what is left is an incomplete entry, i.e. a miss.
    await removeIndexKey(dir, `step:${v.entry.key}`);
    for (const f of listing.fileKeys.get(v.entry.key) ?? []) await removeIndexKey(dir, f.indexKey);
  }
  for (const i of incomplete) for (const f of i.entries) await removeIndexKey(dir, f.indexKey);
  // Content the removed entries used that no other entry shares. Not while another build runs: one writing an
  // entry stores its files before its index lines, and a file whose bytes a victim also has is deduplicated onto
  // the victim's content, so deleting that content now would leave the other build's entry, committed a moment
  // later, without it (seen in test/e2e/crash-concurrency.test.ts). The content sweep, which waits for a moment
  // with no build running, deletes what no index line names.
  if (gone.size > 0 && leases.live.length === 0) {
    const still = (await listCache(dir)).referenced;
    for (const integrity of gone)
      if (!still.has(integrity)) await (await cacache()).rm.content(dir, integrity).catch(() => {});
  }
  result.sweep = await sweep(dir);
  result.reclaimedBytes = Math.max(0, before - (await cacheDiskUsage(dir)));
  return result;
}

function estimateFreed(
  listing: CacheListing,
  victimKeys: string[],
  incompleteKeys: string[],
  gone: Set<string>,
): number {
  const removedKeys = new Set([...victimKeys, ...incompleteKeys]);
  // Content shared with an entry that stays is not freed.
  const staying = new Set<string>();
  for (const s of listing.steps) {
    if (removedKeys.has(s.key)) continue;
    staying.add(s.meta.integrity);
    for (const f of s.files) staying.add(f.integrity);
  }
  const sizes = new Map<string, number>();
  for (const s of listing.steps) {
    sizes.set(s.meta.integrity, s.meta.size);
    for (const f of s.files) sizes.set(f.integrity, f.size);
  }
  for (const i of listing.incomplete) for (const f of i.entries) sizes.set(f.integrity, f.size);
  let n = 0;
  for (const g of gone) if (!staying.has(g)) n += sizes.get(g) ?? 0;
  return n;
}
