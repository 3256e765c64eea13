import cacache from 'cacache';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  cacheState,
  formatAge,
  gcCache,
  listCache,
  parseDuration,
  StepCache,
  verifyCache,
} from '../../src/cache/index.js';
import { McbError } from '../../src/errors.js';
import { listFiles, tempDir, writeText } from '../helpers.js';

/** A model-like entry whose weight file is unique to `seed` (distinct length and bytes, so never deduplicated). */
const entry = (seed: number) => ({
  files: new Map([
    ['model.json', new TextEncoder().encode(`{"seed":${seed}}`)],
    ['w.bin', new Uint8Array(4000 + seed).map((_, i) => (i * (seed + 3)) % 251)],
  ]),
  meta: { accuracy: 0.5, seed },
});

const key = (n: number) => n.toString(16).padStart(64, 'a');

/** A cache with entries written in order, a few ms apart, so their times order them. */
async function cacheWith(n: number): Promise<{ dir: string; cache: StepCache; keys: string[] }> {
  const dir = tempDir();
  const cache = new StepCache(dir);
  const keys: string[] = [];
  for (let i = 1; i <= n; i++) {
    keys.push(key(i));
    await cache.write(key(i), entry(i));
    await sleep(15);
  }
  return { dir, cache, keys };
}

const contentFiles = (dir: string) => (existsSync(join(dir, 'content-v2')) ? listFiles(join(dir, 'content-v2')) : []);

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  return r.pid;
}

describe('durations', () => {
  it('parses 45s, 90m, 12h, 30d, 2w and rejects the rest', () => {
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    for (const bad of ['30', 'd', '-1d', '3 days', '1d2h', '']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('formats ages', () => {
    expect([5_000, 120_000, 7_200_000, 3 * 86_400_000].map(formatAge)).toEqual(['5s', '2m', '2h', '3d']);
  });
});

describe('listCache', () => {
  it('lists committed entries with their files, sizes and times, oldest first', async () => {
    const { dir, keys } = await cacheWith(2);
    const { steps, incomplete } = await listCache(dir);
    expect(steps.map((s) => s.key)).toEqual(keys);
    expect(steps[0]!.files.map((f) => f.name)).toEqual(['model.json', 'w.bin']);
    const meta = JSON.stringify({ accuracy: 0.5, seed: 1 }).length;
    expect(steps[0]!.size).toBe('{"seed":1}'.length + 4001 + meta);
    expect(steps[0]!.time).toBeLessThan(steps[1]!.time);
    expect(incomplete).toEqual([]);
  });

  it('sees files of a step that was never committed as incomplete', async () => {
    const { dir } = await cacheWith(1);
    await cacache.put(dir, `file:${key(9)}:w.bin`, new Uint8Array(10));
    const { steps, incomplete } = await listCache(dir);
    expect(steps).toHaveLength(1);
    expect(incomplete.map((i) => [i.key, i.size])).toEqual([[key(9), 10]]);
  });

  it('refuses to treat a folder of other files as a cache', async () => {
    const dir = tempDir();
    expect(await cacheState(join(dir, 'nope'))).toBe('missing');
    expect(await cacheState(dir)).toBe('empty');
    writeText(join(dir, 'thesis.txt'), 'x');
    await expect(cacheState(dir)).rejects.toThrow(McbError);
    await expect(cacheState(dir)).rejects.toThrow(
      /is not an mcbuild cache: it has no index-v5\/ or content-v2\/ folder but holds "thesis\.txt"/,
    );
  });
});

describe('gc', () => {
  it('by size: removes the oldest entries until the rest fit, with their files and content', async () => {
    const { dir, cache, keys } = await cacheWith(3);
    const sizes = (await listCache(dir)).steps.map((s) => s.size);
    const before = contentFiles(dir).length;
    const r = await gcCache(dir, { maxSize: sizes[1]! + sizes[2]! });
    expect(r.removed.map((e) => [e.key, e.reason])).toEqual([[keys[0], 'max-size']]);
    expect(r.kept).toEqual({ entries: 2, bytes: sizes[1]! + sizes[2]! });
    expect(r.overMaxSize).toBe(false);
    expect(r.sweep.ran).toBe(true);
    expect(r.reclaimedBytes).toBeGreaterThanOrEqual(4001);
    expect(await cache.has(keys[0]!)).toBe(false);
    expect(contentFiles(dir)).toHaveLength(before - 3); // model.json, w.bin and the metadata blob
    const all = await cacache.ls(dir);
    expect(Object.keys(all).filter((k) => k.includes(keys[0]!))).toEqual([]);
    for (const k of keys.slice(1)) expect((await cache.read(k))?.meta).toMatchObject({ accuracy: 0.5 });
  });

  it('by age: removes every entry older than max-age', async () => {
    const { dir, cache, keys } = await cacheWith(3);
    const times = (await listCache(dir)).steps.map((s) => s.time);
    const now = times[2]! + 1;
    // Older than the middle one's age minus a millisecond: the first two go.
    const r = await gcCache(dir, { maxAge: now - times[1]! - 1, now });
    expect(r.removed.map((e) => [e.key, e.reason])).toEqual([
      [keys[0], 'max-age'],
      [keys[1], 'max-age'],
    ]);
    expect(await cache.has(keys[2]!)).toBe(true);
    expect((await cache.read(keys[2]!))?.files.get('w.bin')?.byteLength).toBe(4003);
  });

  it('a dry run lists what it would remove and removes nothing', async () => {
    const { dir, keys } = await cacheWith(2);
    const files = contentFiles(dir).sort();
    const r = await gcCache(dir, { maxSize: 0, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.removed.map((e) => e.key)).toEqual(keys);
    expect(r.reclaimedBytes).toBeGreaterThan(8000);
    expect(contentFiles(dir).sort()).toEqual(files);
    expect((await listCache(dir)).steps).toHaveLength(2);
  });

  it('never removes an entry a live lease holds, and says so', async () => {
    const { dir, cache, keys } = await cacheWith(2);
    const release = await cache.hold([keys[0]!]);
    const r = await gcCache(dir, { maxAge: 0, now: Date.now() + 60_000 });
    expect(r.removed.map((e) => e.key)).toEqual([keys[1]]);
    expect(r.held).toEqual([expect.objectContaining({ key: keys[0], reason: 'max-age', pids: [process.pid] })]);
    expect(r.liveLeases).toEqual([{ pid: process.pid, keys: 1 }]);
    // The content sweep would race the running build: it is skipped.
    expect(r.sweep.ran).toBe(false);
    expect(r.sweep.skipped).toMatch(new RegExp(`a build is running \\(pid ${process.pid}\\)`));
    expect((await cache.read(keys[0]!))?.files.get('w.bin')?.byteLength).toBe(4001);
    await release();
    const again = await gcCache(dir, { maxAge: 0, now: Date.now() + 60_000 });
    expect(again.removed.map((e) => e.key)).toEqual([keys[0]]);
    expect(again.sweep.ran).toBe(true);
  });

  it('keeps removed entries’ content while a build runs, for an entry it may be storing onto the same bytes', async () => {
    const { dir, cache, keys } = await cacheWith(1);
    const files = contentFiles(dir).length;
    // A running build (its lease) about to store a step whose weights are byte for byte the victim's: cacache
    // deduplicates the bytes before the build writes its index lines.
    const release = await cache.hold([key(9)]);
    const r = await gcCache(dir, { maxSize: 0 });
    expect(r.removed.map((e) => e.key)).toEqual([keys[0]]);
    expect(contentFiles(dir)).toHaveLength(files);
    await cache.write(key(9), entry(1));
    expect((await cache.read(key(9)))?.files.get('w.bin')?.byteLength).toBe(4001);
    await release();
    // With no build running, gc deletes what no index line names: here nothing, key(9) uses it all.
    const again = await gcCache(dir, {});
    expect(again.sweep.ran).toBe(true);
    expect(contentFiles(dir)).toHaveLength(files);
  });

  it('by size, a held entry counts but stays; the rest of the oldest go', async () => {
    const { dir, cache, keys } = await cacheWith(3);
    const release = await cache.hold([keys[0]!]);
    const r = await gcCache(dir, { maxSize: 1 });
    expect(r.removed.map((e) => e.key)).toEqual([keys[1], keys[2]]);
    expect(r.held.map((h) => [h.key, h.reason])).toEqual([[keys[0], 'max-size']]);
    expect(r.overMaxSize).toBe(true);
    await release();
  });

  it('a lease of a process that has exited protects nothing and is deleted', async () => {
    const { dir, cache, keys } = await cacheWith(2);
    const pid = deadPid();
    const lease = join(dir, 'leases', `${pid}-0badf00d.json`);
    writeText(lease, JSON.stringify({ pid, keys }));
    const r = await gcCache(dir, { maxSize: 0 });
    expect(r.removed.map((e) => e.key)).toEqual(keys);
    expect(r.staleLeases).toEqual([{ file: lease, pid }]);
    expect(existsSync(lease)).toBe(false);
    expect(await cache.has(keys[0]!)).toBe(false);
  });

  it('a live lease it cannot read holds everything', async () => {
    const { dir, keys } = await cacheWith(2);
    writeText(join(dir, 'leases', `${process.pid}-00000000.json`), '{"pid": 12'); // half written
    const r = await gcCache(dir, { maxSize: 0 });
    expect(r.removed).toEqual([]);
    expect(r.held.map((h) => h.key)).toEqual(keys);
    expect(r.liveLeases).toEqual([{ pid: process.pid, keys: 'unreadable' }]);
  });

  it('without limits removes only stale leases, incomplete entries and unreferenced content', async () => {
    const { dir, cache, keys } = await cacheWith(2);
    // What a killed build leaves: files stored, step never committed.
    await cacache.put(dir, `file:${key(7)}:w.bin`, new Uint8Array(77).fill(7));
    // Content no index line points at any more.
    await cacache.put(dir, 'stray', new Uint8Array(55).fill(5));
    await cacache.rm.entry(dir, 'stray');
    const pid = deadPid();
    writeText(join(dir, 'leases', `${pid}-12345678.json`), JSON.stringify({ pid, keys }));
    const before = contentFiles(dir).length;
    const r = await gcCache(dir);
    expect(r.removed.map((e) => [e.key, e.reason, e.size])).toEqual([[key(7), 'incomplete', 77]]);
    expect(r.staleLeases.map((l) => l.pid)).toEqual([pid]);
    expect(r.sweep).toMatchObject({ ran: true, unreferencedFiles: 1, corruptFiles: 0 });
    expect(contentFiles(dir)).toHaveLength(before - 2);
    expect(readdirSync(join(dir, 'leases'))).toEqual([]);
    for (const k of keys) expect(await cache.has(k)).toBe(true);
  });

  it('on a cache that does not exist does nothing and creates nothing', async () => {
    const dir = join(tempDir(), 'cache');
    const r = await gcCache(dir, { maxSize: 0 });
    expect(r.removed).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('verify', () => {
  it('reads every entry, removes one with a flipped byte, and leaves the cache consistent', async () => {
    const { dir, cache, keys } = await cacheWith(2);
    const blob = contentFiles(dir).find((f) => readFileSync(f).byteLength === 4001)!;
    const bytes = readFileSync(blob);
    bytes[1234]! ^= 1;
    // cacache stores content read-only; rewrite it as a disk fault would.
    writeFileSync(blob, bytes, { mode: 0o644, flag: 'w' });
    const r = await verifyCache(dir);
    expect(r.checked).toBe(2);
    expect(r.ok).toBe(1);
    expect(r.removed).toEqual([{ key: keys[0], reason: 'its file w.bin is corrupt' }]);
    expect(r.sweep.ran).toBe(true);
    expect(r.reclaimedBytes).toBeGreaterThan(0);
    expect(await cache.has(keys[0]!)).toBe(false);
    // No index line of the removed entry is left (its file lines pointed at deleted content).
    expect(Object.keys(await cacache.ls(dir)).filter((k) => k.includes(keys[0]!))).toEqual([]);
    expect((await listCache(dir)).incomplete).toEqual([]);
    const again = await verifyCache(dir);
    expect(again).toMatchObject({
      checked: 1,
      ok: 1,
      removed: [],
      sweep: { ran: true, unreferencedFiles: 0, corruptFiles: 0 },
    });
    // The entry can be stored again.
    await cache.write(keys[0]!, entry(1));
    expect((await cache.read(keys[0]!))?.files.get('w.bin')?.[1234]).toBe((1234 * 4) % 251);
  });

  it('a missing content file is found too', async () => {
    const { dir, keys } = await cacheWith(2);
    const { rmSync } = await import('node:fs');
    rmSync(contentFiles(dir).find((f) => readFileSync(f).byteLength === 4002)!);
    const r = await verifyCache(dir);
    expect(r.removed).toEqual([{ key: keys[1], reason: 'its file w.bin is missing' }]);
  });

  it('an empty folder is a consistent cache', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'leases'));
    expect(await verifyCache(dir)).toMatchObject({ checked: 0, removed: [], sweep: { ran: false } });
  });
});
