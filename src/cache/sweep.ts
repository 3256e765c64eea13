/**
 * What `mcbuild cache gc` and `mcbuild cache verify` both do around their own work: report the leases, clean
 * up what dead processes left (stale locks, half-written files), and sweep content no entry points at.
 *
 * cacache.verify (the content sweep and index compaction) is only run when no build is running: it empties
 * cacache's tmp/ folder, where a build stages the files it is writing, and it deletes content whose index
 * line a build has not appended yet.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { cacache } from './cacache.js';
import { SWEEP_FILE } from './layout.js';
import { pidAlive, scanLeases, type LeaseScan } from './leases.js';
import { describeOwner, sweepLocks, type LockScan } from './lock.js';

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

/** The leases a gc or verify found, as its result reports them. */
export interface LeaseSummary {
  staleLeases: { file: string; pid: number }[];
  liveLeases: { pid: number; keys: number | 'unreadable' }[];
  unknownLeaseFiles: string[];
}

export function describeLeases(leases: LeaseScan, result: LeaseSummary): void {
  result.staleLeases = leases.stale.map((l) => ({ file: l.file, pid: l.pid }));
  result.liveLeases = leases.live.map((l) => ({
    pid: l.pid,
    keys: l.keys === undefined ? 'unreadable' : l.keys.length,
  }));
  result.unknownLeaseFiles = leases.unknown;
}

/** cacache.verify, unless a build is running (see the top of this file). */
export async function sweep(dir: string): Promise<SweepResult> {
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
    stats = (await (await cacache()).verify(dir)) as Record<string, unknown>;
  } catch (e) {
    throw new McbError(
      'MCB_OUTPUT',
      `cannot clean the cache directory ${dir} (${(e as { code?: string }).code ?? String(e)}). Check its permissions, or choose another with --cache-dir.`,
    );
  }
  const num = (k: string) => (typeof stats[k] === 'number' ? stats[k] : 0);
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
export async function cleanLocks(dir: string, dryRun: boolean): Promise<LocksResult> {
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
