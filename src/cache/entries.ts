/**
 * What is in a step cache, read from cacache's index: one committed entry per `step:<key>` line (its
 * metadata lists the files), plus the `file:<key>:<name>` lines of the files. Files whose step was never
 * committed (a build killed halfway) are "incomplete": a miss for every build, so garbage.
 */
import type { CacheObject } from 'cacache';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { cacache } from './cacache.js';
import { LEASES_DIR, LOCKS_DIR, SWEEP_FILE } from './layout.js';

export interface StepEntryInfo {
  key: string;
  /** When the entry was committed (ms since the epoch). */
  time: number;
  /** Bytes of its files plus its metadata blob. */
  size: number;
  files: { name: string; integrity: string; size: number }[];
  /** Integrity and size of the metadata blob the `step:` line points at. */
  meta: { integrity: string; size: number };
}

export interface IncompleteEntry {
  key: string;
  /** Newest of its file lines. */
  time: number;
  size: number;
  /** Its index keys (`file:<key>:<name>`) and what they point at. */
  entries: { indexKey: string; integrity: string; size: number }[];
}

export interface CacheListing {
  steps: StepEntryInfo[];
  incomplete: IncompleteEntry[];
  /** `file:` index lines by step key, committed or not. */
  fileKeys: Map<string, { indexKey: string; integrity: string; size: number }[]>;
  /** Every integrity an index line points at. */
  referenced: Set<string>;
}

/** Folders and files cacache and mcbuild keep in a cache directory. */
const OWN_NAMES = new Set([
  'index-v5',
  'content-v2',
  'tmp',
  LEASES_DIR,
  LOCKS_DIR,
  SWEEP_FILE,
  'runs',
  '_lastverified',
]);

/**
 * 'missing' or 'empty' when there is nothing to look at; throws when `dir` is a file or a folder that holds
 * other things and no cache, so `cache gc` never sweeps a folder it did not make.
 */
export async function cacheState(dir: string): Promise<'missing' | 'empty' | 'cache'> {
  let names: string[];
  try {
    const s = await stat(dir);
    if (!s.isDirectory())
      throw new McbError(
        'MCB_USAGE',
        `the cache directory ${dir} is a file, not a folder. Pass the cache folder with --cache-dir (by default cache/ at the project root).`,
      );
    names = await readdir(dir);
  } catch (e) {
    if (e instanceof McbError) throw e;
    if (errnoCode(e) === 'ENOENT') return 'missing';
    throw new McbError(
      'MCB_OUTPUT',
      `cannot read the cache directory ${dir} (${errnoCode(e) ?? String(e)}). Check its permissions, or choose another with --cache-dir.`,
    );
  }
  if (names.includes('index-v5') || names.includes('content-v2')) return 'cache';
  const foreign = names.filter((n) => !OWN_NAMES.has(n));
  if (foreign.length > 0) {
    throw new McbError(
      'MCB_USAGE',
      `${dir} is not an mcbuild cache: it has no index-v5/ or content-v2/ folder but holds ${foreign
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(
          ', ',
        )}${foreign.length > 3 ? ', …' : ''}. Pass the cache folder with --cache-dir (by default cache/ at the project root).`,
    );
  }
  return 'empty';
}

export async function listCache(dir: string): Promise<CacheListing> {
  let index: Record<string, CacheObject>;
  try {
    index = await (await cacache()).ls(dir);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') index = {};
    else
      throw new McbError(
        'MCB_OUTPUT',
        `cannot read the cache index in ${dir} (${errnoCode(e) ?? String(e)}). Check its permissions, or choose another with --cache-dir.`,
      );
  }
  const steps: StepEntryInfo[] = [];
  const fileKeys = new Map<string, { indexKey: string; integrity: string; size: number }[]>();
  const fileTimes = new Map<string, number>();
  const referenced = new Set<string>();
  for (const e of Object.values(index)) {
    referenced.add(e.integrity);
    const size = e.size ?? 0;
    if (e.key.startsWith('step:')) {
      const meta = (e.metadata ?? {}) as { files?: unknown };
      const files = Array.isArray(meta.files)
        ? (meta.files as StepEntryInfo['files']).filter((f) => typeof f?.integrity === 'string')
        : [];
      const total = size + files.reduce((n, f) => n + (Number(f.size) || 0), 0);
      steps.push({
        key: e.key.slice('step:'.length),
        time: e.time,
        size: total,
        files,
        meta: { integrity: e.integrity, size },
      });
    } else if (e.key.startsWith('file:')) {
      // file:<key>:<name>; a key is hex, a name may hold colons.
      const rest = e.key.slice('file:'.length);
      const colon = rest.indexOf(':');
      const key = colon < 0 ? rest : rest.slice(0, colon);
      const list = fileKeys.get(key) ?? [];
      list.push({ indexKey: e.key, integrity: e.integrity, size });
      fileKeys.set(key, list);
      fileTimes.set(key, Math.max(fileTimes.get(key) ?? 0, e.time));
    }
  }
  const committed = new Set(steps.map((s) => s.key));
  const incomplete: IncompleteEntry[] = [];
  for (const [key, entries] of fileKeys) {
    if (committed.has(key)) continue;
    incomplete.push({ key, time: fileTimes.get(key)!, size: entries.reduce((n, f) => n + f.size, 0), entries });
  }
  steps.sort((a, b) => a.time - b.time || a.key.localeCompare(b.key));
  incomplete.sort((a, b) => a.time - b.time || a.key.localeCompare(b.key));
  return { steps, incomplete, fileKeys, referenced };
}

/** Bytes under `dir` (files only), 0 when it does not exist. */
export async function diskUsage(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return 0;
    throw e;
  }
  let total = 0;
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await diskUsage(p);
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** What the cache occupies on disk: content and index. */
export async function cacheDiskUsage(dir: string): Promise<number> {
  return (await diskUsage(join(dir, 'content-v2'))) + (await diskUsage(join(dir, 'index-v5')));
}

/** Deletes an index key's bucket file outright (no tombstone line), as `cacache.rm.entry` does with removeFully. */
export async function removeIndexKey(dir: string, indexKey: string): Promise<void> {
  const rmEntry = (await cacache()).rm.entry as unknown as (
    cache: string,
    key: string,
    opts: { removeFully: boolean },
  ) => Promise<unknown>;
  await rmEntry(dir, indexKey, { removeFully: true });
}
