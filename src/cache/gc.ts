/**
 * `mcbuild cache gc` and `mcbuild cache verify`: removing whole step entries and sweeping content no entry
 * points at. An entry a running build holds (a live lease names its key) is never removed.
 *
 * cacache.verify (the content sweep and index compaction) is only run when no build is running: it empties
 * cacache's tmp/ folder, where a build stages the files it is writing, and it deletes content whose index
 * line a build has not appended yet.
 */
import cacache from 'cacache';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import {
  cacheDiskUsage,
  cacheState,
  listCache,
  removeIndexKey,
  type CacheListing,
  type StepEntryInfo,
} from './entries.js';
import { heldKeys, pidAlive, removeLease, scanLeases, type LeaseScan } from './leases.js';
import { describeOwner, sweepLocks, type LockScan } from './lock.js';
import { StepCache, SWEEP_FILE } from './store.js';

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

export interface SweepResult {
  /** False when a running build made it unsafe (see `skipped`). */
  ran: boolean;
  skipped?: string;
  /** Content files deleted because nothing pointed at them. */
  unreferencedFiles: number;
  /** Content files deleted because their bytes did not match their hash. */
  corruptFiles: number;
  /** Index lines dropped because their content was gone. */
  droppedIndexLines: number;
  /** Files in cacache's tmp/ (content a stopped build was writing): deleted when the sweep ran. */
  tmpFiles: number;
}

/** Per-key compute locks (src/cache/lock.ts) and what killed processes left beside them. */
export interface LocksResult {
  /** Held by running builds: left alone. */
  live: { key: string; holder: string }[];
  /** Their holder died: removed (unless a dry run). */
  stale: { key: string; holder: string }[];
  /** Temporary files of dead processes (lock and build-record files half made) removed. */
  leftovers: number;
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
  // Content the removed entries used that no other entry shares.
  if (gone.size > 0) {
    const still = (await listCache(dir)).referenced;
    for (const integrity of gone) if (!still.has(integrity)) await cacache.rm.content(dir, integrity).catch(() => {});
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

function describeLeases(
  leases: LeaseScan,
  result: { staleLeases: GcResult['staleLeases']; liveLeases: GcResult['liveLeases']; unknownLeaseFiles: string[] },
): void {
  result.staleLeases = leases.stale.map((l) => ({ file: l.file, pid: l.pid }));
  result.liveLeases = leases.live.map((l) => ({
    pid: l.pid,
    keys: l.keys === undefined ? 'unreadable' : l.keys.length,
  }));
  result.unknownLeaseFiles = leases.unknown;
}

/** cacache.verify, unless a build is running (see the top of this file). */
async function sweep(dir: string): Promise<SweepResult> {
  // Announce the sweep before looking for leases: a build starting now either shows up below or waits for us
  // (StepCache.hold). Another gc or verify sweeping at the same time: leave it to that one.
  const marker = join(dir, SWEEP_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(marker, JSON.stringify({ pid: process.pid }), { flag: 'wx' });
      break;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST' || attempt > 0) {
        return {
          ran: false,
          skipped:
            errnoCode(e) === 'EEXIST'
              ? 'another gc or verify is sweeping'
              : `cannot write ${marker} (${errnoCode(e) ?? String(e)})`,
          unreferencedFiles: 0,
          corruptFiles: 0,
          droppedIndexLines: 0,
          tmpFiles: 0,
        };
      }
      const pid = await readFile(marker, 'utf8').then(
        (t) => (JSON.parse(t) as { pid?: number }).pid,
        () => undefined,
      );
      if (typeof pid === 'number' && pidAlive(pid))
        return {
          ran: false,
          skipped: `another gc or verify is sweeping (pid ${pid})`,
          unreferencedFiles: 0,
          corruptFiles: 0,
          droppedIndexLines: 0,
          tmpFiles: 0,
        };
      await rm(marker, { force: true }); // its sweeper died
    }
  }
  try {
    return await sweepAnnounced(dir);
  } finally {
    await rm(marker, { force: true }).catch(() => {});
  }
}

async function sweepAnnounced(dir: string): Promise<SweepResult> {
  // Looked up again right before: a build may have started since the first scan.
  const leases = await scanLeases(dir);
  if (leases.live.length > 0) {
    const pids = [...new Set(leases.live.map((l) => l.pid))].join(', ');
    return {
      ran: false,
      skipped: `a build is running (pid ${pids}); run it again when no build runs`,
      unreferencedFiles: 0,
      corruptFiles: 0,
      droppedIndexLines: 0,
      tmpFiles: 0,
    };
  }
  // A lock without a lease: something drives the executor without a lease (the API); it may be writing too.
  const locks = await sweepLocks(dir, { dryRun: true });
  if (locks.live.length > 0) {
    return {
      ran: false,
      skipped: `a build is computing a step (${[...new Set(locks.live.map((l) => describeOwner(l.owner)))].join(', ')}); run it again when no build runs`,
      unreferencedFiles: 0,
      corruptFiles: 0,
      droppedIndexLines: 0,
      tmpFiles: 0,
    };
  }
  const tmpFiles = await countFiles(join(dir, 'tmp'));
  let stats: Record<string, unknown>;
  try {
    stats = (await cacache.verify(dir)) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new McbError(
      'MCB_OUTPUT',
      `cannot clean the cache directory ${dir} (${(e as { code?: string }).code ?? String(e)}). Check its permissions, or choose another with --cache-dir.`,
    );
  }
  const num = (k: string) => (typeof stats[k] === 'number' ? (stats[k] as number) : 0);
  return {
    ran: true,
    unreferencedFiles: num('reclaimedCount') - num('badContentCount'),
    corruptFiles: num('badContentCount'),
    droppedIndexLines: num('missingContent'),
    tmpFiles,
  };
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let n = 0;
  for (const e of entries) n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  return n;
}

/** Stale locks and dead processes' temporary files (locks/, runs/) go; locks of running builds stay. */
async function cleanLocks(dir: string, dryRun: boolean): Promise<LocksResult> {
  const scan: LockScan = await sweepLocks(dir, { dryRun });
  const holder = (l: LockScan['live'][number]) => ({ key: l.key, holder: describeOwner(l.owner) });
  let leftovers = scan.leftovers.length;
  // writeBuildRecord's `<record>.json.<pid>.tmp`, left when a build was killed while saving it.
  const runs = join(dir, 'runs');
  for (const name of await readdir(runs).catch(() => [] as string[])) {
    const m = /\.(\d+)\.tmp$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    leftovers++;
    if (!dryRun) await rm(join(runs, name), { force: true }).catch(() => {});
  }
  return { live: scan.live.map(holder), stale: scan.stale.map(holder), leftovers };
}

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
