/**
 * The two reads a cached build makes of the step cache, done on cacache's on-disk format directly: finding a
 * key's index entry and reading content by its integrity, each verified as cacache verifies it. Loading cacache
 * itself (with the semver, glob and minipass packages it requires, ~100 files) cost a cached `mcbuild plan`
 * more than any other module; it is now loaded only to write, delete or sweep (./cacache.ts). The format is
 * cacache's "index-v5" and "content-v2" (its package.json `cache-version`), which
 * test/cache/fast-read.test.ts checks against cacache's own reads, damage included.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** An index entry as cacache's get.info returns it (path aside). */
export interface IndexEntry {
  key: string;
  integrity: string;
  size?: number;
  time: number;
  metadata?: unknown;
}

const hex = (algorithm: string, text: string | Uint8Array) => createHash(algorithm).update(text).digest('hex');

/** cacache splits a hash into the folders ab/cd/rest. */
const segments = (hash: string) => [hash.slice(0, 2), hash.slice(2, 4), hash.slice(4)];

/**
 * The newest entry for `key`, or null when there is none or the newest deletes it (null integrity). Lines whose
 * hash does not match their text (a torn or foreign write) are ignored. Throws ENOENT-free errors only: a cache
 * or bucket that does not exist is a miss.
 */
export async function findEntry(cache: string, key: string): Promise<IndexEntry | null> {
  let text: string;
  try {
    text = await readFile(join(cache, 'index-v5', ...segments(hex('sha256', key))), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let latest: IndexEntry | null = null;
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const json = line.slice(tab + 1);
    if (hex('sha1', json) !== line.slice(0, tab)) continue;
    let entry: Partial<IndexEntry> | null;
    try {
      entry = JSON.parse(json) as Partial<IndexEntry> | null;
    } catch {
      continue;
    }
    if (entry?.key === key) latest = entry.integrity ? (entry as IndexEntry) : null;
  }
  return latest;
}

/** The algorithms cacache may write, strongest first (it reads content by the strongest hash an integrity has). */
const ALGORITHMS = ['sha512', 'sha384', 'sha256', 'sha1'];

/**
 * The content whose integrity (an SRI string, as cacache.put returns) is `integrity`, verified. Errors carry the
 * codes cacache's get.byDigest uses: ENOENT when the content is missing, EINTEGRITY when it does not match.
 */
export async function readContent(cache: string, integrity: string): Promise<Buffer> {
  const hashes = integrity
    .trim()
    .split(/\s+/)
    .map((h) => /^([a-z0-9]+)-([A-Za-z0-9+/=]+)(\?.*)?$/.exec(h))
    .filter((m): m is RegExpExecArray => m !== null && ALGORITHMS.includes(m[1]!));
  const strongest = hashes.sort((a, b) => ALGORITHMS.indexOf(a[1]!) - ALGORITHMS.indexOf(b[1]!))[0];
  if (!strongest) throw Object.assign(new Error(`unusable integrity ${integrity}`), { code: 'EINTEGRITY' });
  const [, algorithm, digest] = strongest as unknown as [string, string, string];
  const path = join(cache, 'content-v2', algorithm, ...segments(Buffer.from(digest, 'base64').toString('hex')));
  const data = await readFile(path);
  if (createHash(algorithm).update(data).digest('base64') !== digest)
    throw Object.assign(new Error(`${path} does not match its integrity ${integrity}`), { code: 'EINTEGRITY' });
  return data;
}
