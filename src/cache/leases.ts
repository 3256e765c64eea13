/**
 * Leases: a running build lists the step keys it uses in `<cache>/leases/<pid>-<hex>.json` (see
 * StepCache.hold). `mcbuild cache gc` keeps every entry a live lease names; a lease whose process is gone is
 * stale and may be deleted.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from '../errors.js';
import { LEASES_DIR } from './layout.js';

export interface Lease {
  file: string;
  pid: number;
  /** The keys it holds; undefined when a live process's lease could not be read (then it holds everything). */
  keys: string[] | undefined;
}

export interface LeaseScan {
  live: Lease[];
  stale: Lease[];
  /** Files in leases/ that name no process: ignored, with a note. */
  unknown: string[];
}

/** Whether a process with this pid exists. EPERM means it exists but belongs to someone else. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) !== 'ESRCH';
  }
}

const NAME = /^(\d+)-[0-9a-f]+\.json$/;

/** The names in a folder of the cache, sorted; none when the folder does not exist (yet). */
export async function sortedEntries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return [];
    throw e;
  }
}

export async function scanLeases(cacheDir: string): Promise<LeaseScan> {
  const dir = join(cacheDir, LEASES_DIR);
  const scan: LeaseScan = { live: [], stale: [], unknown: [] };
  const names = await sortedEntries(dir);
  for (const name of names) {
    const file = join(dir, name);
    const fromName = NAME.exec(name);
    let parsed = await readLease(file);
    // A lease is written with a plain writeFile: a build starting right now may have written half of it.
    if (parsed === 'unreadable') {
      await sleep(50);
      parsed = await readLease(file);
    }
    if (parsed === 'gone') continue; // released while we looked
    const pid =
      parsed !== 'unreadable' && parsed.pid !== undefined ? parsed.pid : fromName ? Number(fromName[1]) : undefined;
    if (pid === undefined) {
      scan.unknown.push(file);
      continue;
    }
    const keys = parsed === 'unreadable' ? undefined : parsed.keys;
    (pidAlive(pid) ? scan.live : scan.stale).push({ file, pid, keys });
  }
  return scan;
}

async function readLease(
  file: string,
): Promise<{ pid: number | undefined; keys: string[] | undefined } | 'unreadable' | 'gone'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return 'gone';
    return 'unreadable';
  }
  try {
    const json = JSON.parse(text) as { pid?: unknown; keys?: unknown };
    const pid = typeof json.pid === 'number' ? json.pid : undefined;
    const keys = Array.isArray(json.keys) && json.keys.every((k) => typeof k === 'string') ? json.keys : undefined;
    return { pid, keys };
  } catch {
    return 'unreadable';
  }
}

export async function removeLease(lease: Lease): Promise<void> {
  await rm(lease.file, { force: true });
}

/** The keys live leases hold, or 'all' when a live lease could not be read. */
export function heldKeys(scan: LeaseScan): Set<string> | 'all' {
  const held = new Set<string>();
  for (const l of scan.live) {
    if (l.keys === undefined) return 'all';
    for (const k of l.keys) held.add(k);
  }
  return held;
}
