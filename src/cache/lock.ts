/**
 * Per-key compute locks: one build computes a given step key at a time, across processes sharing a cache.
 * The cache itself stays consistent without them (content is content-addressed and an entry is committed by
 * one self-hashed index line), so a lock is about work, not safety: four builds of one recipe compute each
 * step once instead of four times, and the others wait and then read the entry as a hit.
 *
 * `<cache>/locks/<key>.lock` holds its owner: pid, host name, a random token and when it was taken. It is
 * created whole (a temporary file hard-linked to the lock name, which fails with EEXIST when held), so a
 * reader never sees half an owner. The holder touches it every HEARTBEAT_MS.
 *
 * A lock is stale when its holder died: on this host, its pid is gone (or, guarding pid reuse, its heartbeat
 * stopped an hour ago); on another host, where pids say nothing, its heartbeat stopped FOREIGN_STALE_MS ago.
 * Breaking a stale lock must not let two waiters in. Each waiter that finds lock S stale tries to create
 * `<key>.break-<S's token>.0` with O_EXCL; only the one that does may replace S, and only after re-reading the
 * lock and finding S still there (renaming its own complete lock file over it). Tokens are never reused, so a
 * late waiter that creates a break file for an S already replaced re-reads, sees another owner, and backs off.
 * A breaker that itself dies mid-break leaves `.break-<token>.<n>`; the next waiter steps over a dead one by
 * creating `.<n+1>`, so no break file is ever deleted while it might still be in use.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelled, errnoCode, McbError } from '../errors.js';
import { LOCKS_DIR } from './layout.js';
import { pidAlive, sortedEntries } from './leases.js';
import { sha256Hex } from '../util/hash.js';

export interface LockOwner {
  pid: number;
  host: string;
  token: string;
  /** When it was taken (ms since the epoch). */
  since: number;
}

export interface LockTiming {
  /** How often a holder refreshes its lock's mtime. */
  heartbeatMs: number;
  /** A lock from another host whose heartbeat stopped this long ago is stale. */
  foreignStaleMs: number;
  /** A lock from this host whose pid is alive but whose heartbeat stopped this long ago is stale (pid reuse). */
  reusedPidStaleMs: number;
  /** An unreadable lock or break file (damaged by hand) older than this is stale. */
  unreadableStaleMs: number;
}

export const LOCK_TIMING: LockTiming = {
  heartbeatMs: 10_000,
  foreignStaleMs: 10 * 60_000,
  reusedPidStaleMs: 60 * 60_000,
  unreadableStaleMs: 10_000,
};

export interface AcquireOptions {
  signal?: AbortSignal;
  /** Called when the lock is found held by a live holder, and again each time the holder changes. */
  onWait?: (owner: LockOwner | undefined) => void;
  /** Called when a stale lock is taken over, with its dead owner. */
  onTakeover?: (owner: LockOwner | undefined) => void;
  timing?: Partial<LockTiming>;
}

export interface KeyLock {
  readonly owner: LockOwner;
  /** Whether another holder was waited for (the entry may be in the cache now). */
  readonly waited: boolean;
  release(): Promise<void>;
}

export function lockPath(cacheDir: string, key: string): string {
  return join(cacheDir, LOCKS_DIR, `${key}.lock`);
}

/** "pid 123" on this host, "pid 123 on build-2" elsewhere. */
export function describeOwner(owner: LockOwner | undefined): string {
  if (!owner) return 'another build';
  return owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`;
}

interface Seen {
  /** Identifies this lock generation: the owner's token, or a digest of unreadable bytes. */
  id: string;
  owner: LockOwner | undefined;
  mtimeMs: number;
}

/** Takes the lock for `key`, waiting while a live holder has it and taking over a stale one. */
export async function acquireKeyLock(cacheDir: string, key: string, opts: AcquireOptions = {}): Promise<KeyLock> {
  const timing = { ...LOCK_TIMING, ...opts.timing };
  const dir = join(cacheDir, LOCKS_DIR);
  const file = lockPath(cacheDir, key);
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
    since: Date.now(),
  };
  // The pid in the name lets gc remove what a killed process left before linking it.
  const tmp = join(dir, `${key}.${process.pid}-${me.token}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, JSON.stringify(me));
  } catch (e) {
    throw unwritable(cacheDir, e);
  }
  let waited = false;
  let reported: string | undefined;
  let pause = 20;
  try {
    for (;;) {
      if (await tryCreate(tmp, file, me)) break;
      const seen = await readLock(file);
      if (seen === undefined) continue; // released between our attempt and our look
      if (isStale(seen.owner, seen.mtimeMs, timing)) {
        if (await breakStale(dir, key, seen, async () => rename(tmp, file), timing)) {
          opts.onTakeover?.(seen.owner);
          break;
        }
      } else {
        waited = true;
        if (reported !== seen.id) {
          reported = seen.id;
          opts.onWait?.(seen.owner);
        }
      }
      if (opts.signal?.aborted)
        throw cancelled(
          'the build was cancelled while waiting for another build computing the same step; nothing was cached.',
        );
      // Polling, not fs.watch: it works on every file system, and steps take seconds.
      await sleep(pause);
      pause = Math.min(250, Math.round(pause * 1.5));
    }
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    if (e instanceof McbError) throw e;
    throw unwritable(cacheDir, e);
  }
  await rm(tmp, { force: true }).catch(() => {});
  HELD.set(file, me.token);
  registerExitCleanup();
  const beat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, timing.heartbeatMs);
  beat.unref();
  let released = false;
  return {
    owner: me,
    waited,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      HELD.delete(file);
      const seen = await readLock(file).catch(() => undefined);
      // Only our own: if we were wrongly judged dead and replaced, the lock is someone else's now.
      if (seen?.owner?.token === me.token) await rm(file, { force: true }).catch(() => {});
    },
  };
}

/** Creates the lock from our complete temporary file; false when it is held. */
async function tryCreate(tmp: string, file: string, me: LockOwner): Promise<boolean> {
  try {
    await link(tmp, file);
    return true;
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EEXIST') return false;
    // File systems without hard links: O_EXCL create, then write (a reader may briefly see it empty, which
    // counts as held until unreadableStaleMs).
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EPERM') {
      try {
        await writeFile(file, JSON.stringify(me), { flag: 'wx' });
        return true;
      } catch (e2) {
        if (errnoCode(e2) === 'EEXIST') return false;
        throw e2;
      }
    }
    throw e;
  }
}

/** The lock's owner and mtime; undefined when there is no lock. */
export async function readLock(file: string): Promise<Seen | undefined> {
  let text: string;
  let mtimeMs: number;
  let fh;
  try {
    // One open file: its age and its owner are those of the same lock, even if a breaker renames another
    // over the name meanwhile (a stale lock's age with a new owner would look like a dead foreign holder).
    fh = await open(file, 'r');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    mtimeMs = (await fh.stat()).mtimeMs;
    text = await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
  const owner = parseOwner(text);
  return { id: owner ? owner.token : `x${sha256Hex(`${text}\0${mtimeMs}`).slice(0, 24)}`, owner, mtimeMs };
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const j = JSON.parse(text) as Partial<LockOwner>;
    if (
      typeof j.pid === 'number' &&
      typeof j.host === 'string' &&
      typeof j.token === 'string' &&
      /^[0-9a-f]{8,64}$/.test(j.token)
    ) {
      return { pid: j.pid, host: j.host, token: j.token, since: typeof j.since === 'number' ? j.since : 0 };
    }
  } catch {
    /* unreadable: judged by age */
  }
  return undefined;
}

/** Whether the holder of a lock (or a break file) is gone. */
export function isStale(
  owner: LockOwner | undefined,
  mtimeMs: number,
  timing: LockTiming = LOCK_TIMING,
  now = Date.now(),
): boolean {
  const age = now - mtimeMs;
  if (!owner) return age > timing.unreadableStaleMs;
  if (owner.host === hostname()) return !pidAlive(owner.pid) || age > timing.reusedPidStaleMs;
  return age > timing.foreignStaleMs;
}

/**
 * Replaces (or, for gc, removes) the stale lock `seen` through the break-file protocol at the top of this
 * file. `replace` runs only while we are the one breaker and the lock is still `seen`. True when it ran.
 */
export async function breakStale(
  dir: string,
  key: string,
  seen: Seen,
  replace: () => Promise<void>,
  timing: LockTiming = LOCK_TIMING,
): Promise<boolean> {
  const file = join(dir, `${key}.lock`);
  const prefix = `${key}.break-${seen.id}.`;
  let mine: string | undefined;
  for (let n = 0; mine === undefined; n++) {
    const candidate = join(dir, `${prefix}${n}`);
    try {
      await writeFile(
        candidate,
        JSON.stringify({
          pid: process.pid,
          host: hostname(),
          token: randomBytes(12).toString('hex'),
          since: Date.now(),
        }),
        { flag: 'wx' },
      );
      mine = candidate;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      let other: Seen | undefined;
      try {
        const mtimeMs = (await stat(candidate)).mtimeMs;
        other = { id: '', owner: parseOwner(await readFile(candidate, 'utf8')), mtimeMs };
      } catch (e2) {
        if (errnoCode(e2) !== 'ENOENT') throw e2;
        return false; // the breaker finished and cleaned up: the lock is someone's now
      }
      // A live breaker is at work (or one just created its file and has not written it yet): let it finish.
      if (
        !isStale(other.owner, other.mtimeMs, { ...timing, unreadableStaleMs: Math.max(timing.unreadableStaleMs, 1000) })
      )
        return false;
    }
  }
  try {
    const now = await readLock(file);
    if (now?.id !== seen.id) return false; // replaced or released since we looked
    await replace();
    return true;
  } finally {
    // After the replace, no breaker of `seen` can get past the re-read: all of its break files can go.
    if (mine !== undefined) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const now = await readLock(file).catch(() => undefined);
      const all = now?.id !== seen.id ? names.filter((n) => n.startsWith(prefix)) : [];
      for (const n of new Set([...all, mine.slice(dir.length + 1)]))
        await rm(join(dir, n), { force: true }).catch(() => {});
    }
  }
}

export interface LockScan {
  live: { key: string; owner: LockOwner | undefined }[];
  stale: { key: string; owner: LockOwner | undefined }[];
  /** Temporary and break files a killed process left (their owner is gone). */
  leftovers: string[];
}

/**
 * For `cache gc` and `cache verify`: the locks held by running builds, the stale ones (removed unless
 * dryRun, through the same protocol a waiting build uses, so a build taking one over at the same moment is
 * never undone) and files killed processes left in locks/.
 */
export async function sweepLocks(
  cacheDir: string,
  opts: { dryRun?: boolean; timing?: Partial<LockTiming> } = {},
): Promise<LockScan> {
  const timing = { ...LOCK_TIMING, ...opts.timing };
  const dir = join(cacheDir, LOCKS_DIR);
  const scan: LockScan = { live: [], stale: [], leftovers: [] };
  const names = await sortedEntries(dir);
  for (const name of names) {
    const lock = /^([0-9a-zA-Z_-]+)\.lock$/.exec(name);
    if (lock) {
      const key = lock[1]!;
      const seen = await readLock(join(dir, name));
      if (!seen) continue;
      if (!isStale(seen.owner, seen.mtimeMs, timing)) {
        scan.live.push({ key, owner: seen.owner });
        continue;
      }
      scan.stale.push({ key, owner: seen.owner });
      if (!opts.dryRun) await breakStale(dir, key, seen, () => rm(join(dir, name), { force: true }), timing);
      continue;
    }
    const tmp = /^[0-9a-zA-Z_-]+\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
    const brk = /^([0-9a-zA-Z_-]+)\.break-([0-9a-zx]+)\.\d+$/.exec(name);
    let gone = false;
    if (tmp) gone = !pidAlive(Number(tmp[1]));
    else if (brk) {
      // A break file matters only while the lock it names is still there.
      const current = await readLock(join(dir, `${brk[1]}.lock`));
      gone = current?.id !== brk[2];
    }
    if (gone) {
      scan.leftovers.push(join(dir, name));
      if (!opts.dryRun) await rm(join(dir, name), { force: true }).catch(() => {});
    }
  }
  return scan;
}

/** Locks this process holds, removed when it exits (a second Ctrl-C exits without running finally blocks). */
const HELD = new Map<string, string>();
let exitHook = false;
function registerExitCleanup(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const [file, token] of HELD) {
      try {
        if (parseOwner(readFileSync(file, 'utf8'))?.token === token) unlinkSync(file);
      } catch {
        /* gone already */
      }
    }
  });
}

function unwritable(cacheDir: string, e: unknown): McbError {
  return new McbError(
    'MCB_OUTPUT',
    `cannot take a step lock in the cache directory ${cacheDir} (${errnoCode(e) ?? String(e)}). Make it writable, free some space, or choose another with --cache-dir.`,
  );
}
