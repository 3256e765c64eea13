/**
 * Per-key compute locks (src/cache/lock.ts) across real processes: mutual exclusion, taking over the lock of a
 * holder killed with SIGKILL, several waiters racing to break one stale lock, and what gc/verify do with
 * locks. The child processes run test/cache/lock-child.mjs against dist/ (`npm run build` first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireKeyLock, gcCache, lockPath, StepCache, sweepLocks, verifyCache } from '../../src/cache/index.js';
import { McbError } from '../../src/errors.js';
import { ROOT, tempDir } from '../helpers.js';

const CHILD = join(ROOT, 'test', 'cache', 'lock-child.mjs');
const KEY = 'ab'.repeat(32);

interface LogLine {
  event: 'enter' | 'leave' | 'wait' | 'takeover';
  pid: number;
  holder?: number;
  from?: number;
}

const readLog = (file: string): LogLine[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine)
    : [];

/** Starts a child holding the lock; resolves once it prints "held" (or, with wait false, at once). */
function child(
  cacheDir: string,
  hold: string,
  log: string,
  rounds = 1,
): { proc: ChildProcess; held: Promise<void>; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [CHILD, cacheDir, KEY, hold, log, String(rounds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const held = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    proc.on('exit', (code) => reject(new Error(`child exited ${code} before holding the lock: ${err}`)));
  });
  held.catch(() => {});
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, held, exit };
}

/** Enter and leave lines must alternate: never two holders at once. */
function expectExclusive(lines: LogLine[]): void {
  let inside: number | undefined;
  for (const l of lines) {
    if (l.event === 'enter') {
      expect(inside, `pid ${l.pid} entered while pid ${inside} held the lock`).toBeUndefined();
      inside = l.pid;
    } else if (l.event === 'leave') {
      expect(inside).toBe(l.pid);
      inside = undefined;
    }
  }
}

/** A lock left by a process killed with SIGKILL while holding it. */
async function killedHolder(cacheDir: string, log: string): Promise<number> {
  const c = child(cacheDir, 'forever', log);
  await c.held;
  c.proc.kill('SIGKILL');
  await c.exit;
  expect(existsSync(lockPath(cacheDir, KEY))).toBe(true);
  return c.proc.pid!;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid;
}

describe('step locks across processes', () => {
  it('4 processes taking one key 3 times each never hold it at the same time', async () => {
    const dir = tempDir();
    const log = join(dir, 'log.jsonl');
    const kids = [0, 1, 2, 3].map(() => child(dir, '40', log, 3));
    expect(await Promise.all(kids.map((k) => k.exit))).toEqual([0, 0, 0, 0]);
    const lines = readLog(log);
    expect(lines.filter((l) => l.event === 'enter')).toHaveLength(12);
    expectExclusive(lines);
    // Those that waited were told who held it.
    const pids = new Set(kids.map((k) => k.proc.pid));
    for (const w of lines.filter((l) => l.event === 'wait')) expect(pids.has(w.holder)).toBe(true);
    expect(lines.some((l) => l.event === 'takeover')).toBe(false);
    expect(readdirSync(join(dir, 'locks'))).toEqual([]);
  });

  it('a waiter is told who holds the lock, and Ctrl-C while waiting is a cancellation (exit 130)', async () => {
    const dir = tempDir();
    const log = join(dir, 'log.jsonl');
    const holder = child(dir, 'forever', log);
    await holder.held;
    try {
      const waitedFor: (number | undefined)[] = [];
      const ac = new AbortController();
      const got = acquireKeyLock(dir, KEY, { signal: ac.signal, onWait: (o) => waitedFor.push(o?.pid) });
      setTimeout(() => ac.abort(), 400);
      const err = await got.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(McbError);
      expect(err).toMatchObject({ code: 'MCB_CANCELLED', exitCode: 130 });
      expect(waitedFor).toEqual([holder.proc.pid]);
      // The waiter left no file behind; the holder's lock is untouched.
      expect(readdirSync(join(dir, 'locks'))).toEqual([`${KEY}.lock`]);
    } finally {
      holder.proc.kill('SIGKILL');
      await holder.exit;
    }
  });

  it('takes over the lock of a holder killed with kill -9, at once', async () => {
    const dir = tempDir();
    const log = join(dir, 'log.jsonl');
    const dead = await killedHolder(dir, log);
    const from: (number | undefined)[] = [];
    const started = performance.now();
    const lock = await acquireKeyLock(dir, KEY, { onTakeover: (o) => from.push(o?.pid) });
    // Not a speed target: a dead local holder is seen from its pid, not after the 10-minute staleness bound
    // that applies to other hosts' locks. Anything far below that bound shows it.
    expect(performance.now() - started).toBeLessThan(60_000);
    expect(from).toEqual([dead]);
    expect(JSON.parse(readFileSync(lockPath(dir, KEY), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
      token: lock.owner.token,
    });
    await lock.release();
    // No break files or temporary files are left behind.
    expect(readdirSync(join(dir, 'locks'))).toEqual([]);
  });

  it('4 waiters racing for one stale lock: exactly one takes it over, and they still take turns (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const dir = tempDir();
      const log = join(dir, 'log.jsonl');
      const dead = await killedHolder(dir, log);
      const kids = [0, 1, 2, 3].map(() => child(dir, '30', log));
      expect(await Promise.all(kids.map((k) => k.exit))).toEqual([0, 0, 0, 0]);
      const lines = readLog(log).filter((l) => l.pid !== dead);
      expect(lines.filter((l) => l.event === 'takeover')).toEqual([expect.objectContaining({ from: dead })]);
      expect(lines.filter((l) => l.event === 'enter')).toHaveLength(4);
      expectExclusive(lines);
      expect(readdirSync(join(dir, 'locks'))).toEqual([]);
    }
  });

  it('steps over the break file of a breaker that died mid-break, and waits for a live breaker', async () => {
    const dir = tempDir();
    const locks = join(dir, 'locks');
    mkdirSync(locks, { recursive: true });
    const token = 'c0ffee'.repeat(4);
    writeFileSync(lockPath(dir, KEY), JSON.stringify({ pid: deadPid(), host: hostname(), token, since: 1 }));
    // A live breaker (this very process) is at work: a waiter must not break the lock under it.
    const live = join(locks, `${KEY}.break-${token}.0`);
    writeFileSync(
      live,
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'aa'.repeat(12), since: Date.now() }),
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await expect(acquireKeyLock(dir, KEY, { signal: ac.signal })).rejects.toMatchObject({ code: 'MCB_CANCELLED' });
    // That breaker died: the next waiter steps over its file (taking .1) and gets the lock.
    writeFileSync(
      live,
      JSON.stringify({ pid: deadPid(), host: hostname(), token: 'aa'.repeat(12), since: Date.now() }),
    );
    const lock = await acquireKeyLock(dir, KEY);
    await lock.release();
    expect(readdirSync(locks)).toEqual([]);
  });

  it('a lock from another host is stale only when its heartbeat stopped long ago', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    const file = lockPath(dir, KEY);
    writeFileSync(file, JSON.stringify({ pid: 1, host: 'some-other-host', token: 'be'.repeat(12), since: Date.now() }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const waited: string[] = [];
    await expect(
      acquireKeyLock(dir, KEY, { signal: ac.signal, onWait: (o) => waited.push(`${o?.pid}@${o?.host}`) }),
    ).rejects.toMatchObject({ code: 'MCB_CANCELLED' });
    expect(waited).toEqual(['1@some-other-host']);
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(file, old, old);
    const lock = await acquireKeyLock(dir, KEY);
    await lock.release();
  });

  it('a damaged lock file (not JSON) is waited on briefly, then taken over', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(lockPath(dir, KEY), '{"pid": 12');
    const lock = await acquireKeyLock(dir, KEY, { timing: { unreadableStaleMs: 200 } });
    await lock.release();
    expect(readdirSync(join(dir, 'locks'))).toEqual([]);
  });
});

describe('gc and verify with locks', () => {
  it('a build starting while gc sweeps content waits for the sweep; a second sweep skips; a dead sweeper is ignored', async () => {
    const dir = tempDir();
    const cache = new StepCache(dir);
    await cache.write('k1', { files: new Map([['a', new Uint8Array([1, 2, 3])]]), meta: {} });
    const marker = join(dir, 'sweep.lock');
    writeFileSync(marker, JSON.stringify({ pid: process.pid }));
    let held = false;
    const holding = cache.hold(['k1']).then((release) => {
      held = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(held).toBe(false);
    // Meanwhile another gc does not sweep under the first one.
    expect((await gcCache(dir)).sweep).toMatchObject({
      ran: false,
      skipped: `another gc or verify is sweeping (pid ${process.pid})`,
    });
    rmSync(marker);
    await (
      await holding
    )();
    expect(held).toBe(true);
    writeFileSync(marker, JSON.stringify({ pid: deadPid() }));
    await (
      await cache.hold(['k1'])
    )();
    expect(existsSync(marker)).toBe(false);
    expect((await gcCache(dir)).sweep.ran).toBe(true);
  });

  it('keep a live lock, remove a stale one and the temporary files of dead processes', async () => {
    const dir = tempDir();
    await new StepCache(dir).write('k1', { files: new Map([['a', new Uint8Array([1, 2, 3])]]), meta: {} });
    const held = await acquireKeyLock(dir, 'live'.padEnd(64, '0'));
    const locks = join(dir, 'locks');
    const dead = deadPid();
    writeFileSync(
      join(locks, `${'d'.repeat(64)}.lock`),
      JSON.stringify({ pid: dead, host: hostname(), token: 'dd'.repeat(12), since: 1 }),
    );
    writeFileSync(join(locks, `${'e'.repeat(64)}.${dead}-abcdef.tmp`), '{}');
    mkdirSync(join(dir, 'runs'), { recursive: true });
    writeFileSync(join(dir, 'runs', `x.json.${dead}.tmp`), '{');

    const dry = await sweepLocks(dir, { dryRun: true });
    expect(dry.live.map((l) => l.owner?.pid)).toEqual([process.pid]);
    expect(dry.stale.map((l) => l.owner?.pid)).toEqual([dead]);
    expect(dry.leftovers).toHaveLength(1);
    expect(readdirSync(locks)).toHaveLength(3);

    const gc = await gcCache(dir);
    expect(gc.locks).toMatchObject({
      live: [{ holder: `pid ${process.pid}` }],
      stale: [{ holder: `pid ${dead}` }],
      leftovers: 2,
    });
    // A live lock means a step is being computed: the content sweep waits for a quiet cache.
    expect(gc.sweep).toMatchObject({
      ran: false,
      skipped: expect.stringMatching(/a build is computing a step \(pid \d+\)/),
    });
    expect(readdirSync(locks)).toEqual([`${'live'.padEnd(64, '0')}.lock`]);
    expect(readdirSync(join(dir, 'runs'))).toEqual([]);
    await held.release();

    const v = await verifyCache(dir);
    expect(v).toMatchObject({
      checked: 1,
      ok: 1,
      removed: [],
      locks: { live: [], stale: [], leftovers: 0 },
      sweep: { ran: true },
    });
  });
});
