/**
 * The step cache: one entry per step key, holding the step's files (a model's model.json and shards) and a
 * small JSON of metadata (metrics, per-step facts). Built on npm's cacache, which gives us what a build
 * cache must promise: content written to a temporary file and renamed into place, every read verified
 * against its SRI hash, and an append-only index whose lines carry their own hash (a torn write is ignored).
 *
 * An entry is committed by its index line `step:<key>`, written only after all its files are stored, so a
 * build killed halfway leaves a miss, never a half entry. A damaged or missing file turns the entry into a
 * miss (reported through onDamage), never a crash. Reads go to the files directly (./fast-read.ts, verified as
 * cacache verifies them); cacache is loaded to write and delete.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { cacache } from './cacache.js';
import { findEntry, readContent, type IndexEntry } from './fast-read.js';
import { LEASES_DIR, SWEEP_FILE } from './layout.js';
import { pidAlive } from './leases.js';

export interface CacheEntry {
  files: Map<string, Uint8Array>;
  meta: Record<string, unknown>;
}

interface IndexMetadata {
  files: { name: string; integrity: string; size: number }[];
}

export type DamageListener = (key: string, reason: string) => void;

export class StepCache {
  constructor(
    readonly dir: string,
    private readonly onDamage: DamageListener = () => {},
  ) {}

  /** Whether an entry for `key` is committed. Cheap (index only); read() still verifies the content. */
  async has(key: string): Promise<boolean> {
    try {
      return (await findEntry(this.dir, indexKey(key))) !== null;
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return false;
      throw this.unreadable(e);
    }
  }

  /** Reads and verifies a whole entry; undefined on a miss or on damage. */
  async read(key: string, opts: { metaOnly?: boolean } = {}): Promise<CacheEntry | undefined> {
    let info: IndexEntry | null;
    try {
      info = await findEntry(this.dir, indexKey(key));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw this.unreadable(e);
    }
    if (!info) return undefined;
    const metadata = info.metadata as Partial<IndexMetadata> | undefined;
    // Index lines carry their own hash, so a malformed one was written by something other than mcbuild.
    if (
      !Array.isArray(metadata?.files) ||
      !metadata.files.every((f) => typeof f?.name === 'string' && typeof f.integrity === 'string')
    ) {
      return this.damaged(key, info, 'its index line is malformed');
    }
    const listed = metadata.files;
    let metaBytes: Buffer;
    try {
      metaBytes = await readContent(this.dir, info.integrity);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT') return this.damaged(key, info, 'its metadata is missing');
      if (code === 'EINTEGRITY' || code === 'EBADSIZE')
        return this.damaged(key, info, 'its metadata failed verification');
      throw this.unreadable(e);
    }
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(metaBytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      return this.damaged(key, info, 'its metadata is not JSON');
    }
    const files = new Map<string, Uint8Array>();
    if (!opts.metaOnly) {
      for (const f of listed) {
        try {
          const data = await readContent(this.dir, f.integrity);
          files.set(f.name, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        } catch (e) {
          const code = errnoCode(e);
          if (code === 'ENOENT' || code === 'EINTEGRITY' || code === 'EBADSIZE') {
            return this.damaged(key, info, `its file ${f.name} is ${code === 'ENOENT' ? 'missing' : 'corrupt'}`);
          }
          throw this.unreadable(e);
        }
      }
    }
    await this.touch(key);
    return { files, meta };
  }

  /**
   * Entries builds keep reusing stay young for `cache gc --max-age`: a hit on an entry last written more
   * than an hour ago appends a fresh index line for it (no content is rewritten; the hour bounds index growth).
   */
  private async touch(key: string): Promise<void> {
    try {
      const info = await findEntry(this.dir, indexKey(key));
      if (info && Date.now() - info.time > TOUCH_AFTER_MS) {
        const store = await cacache();
        await store.index.insert(this.dir, indexKey(key), info.integrity, {
          metadata: info.metadata,
          ...(info.size === undefined ? {} : { size: info.size }),
        });
      }
    } catch {
      /* a read-only cache still serves hits */
    }
  }

  async write(key: string, entry: CacheEntry): Promise<void> {
    try {
      const store = await cacache();
      const files: IndexMetadata['files'] = [];
      for (const [name, data] of entry.files) {
        const integrity = await store.put(this.dir, `file:${key}:${name}`, data);
        files.push({ name, integrity, size: data.byteLength });
      }
      // The commit point: until this index line exists, the entry is a miss.
      await store.put(this.dir, indexKey(key), Buffer.from(JSON.stringify(entry.meta)), { metadata: { files } });
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC' || code === 'ENOTDIR')
        throw this.unwritable(e);
      throw e;
    }
  }

  /**
   * Marks `keys` as held by this process until the returned release() runs: `mcbuild cache gc` never deletes
   * an entry a running build holds. A lease is a small file naming the pid, so a lease whose process died is
   * recognised as stale and ignored.
   */
  async hold(keys: readonly string[]): Promise<() => Promise<void>> {
    const dir = join(this.dir, LEASES_DIR);
    const file = join(dir, `${process.pid}-${randomBytes(4).toString('hex')}.json`);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(file, JSON.stringify({ pid: process.pid, keys }));
    } catch (e) {
      throw this.unwritable(e);
    }
    // A content sweep (gc, verify) deletes content no index line names yet and rewrites the index. It looks for
    // leases after announcing itself in SWEEP_FILE; we look for it after writing our lease: at least one of us
    // sees the other. It then skips; we wait for it to finish (it never waits, so neither can deadlock).
    for (let look = 0; ; look++) {
      let pid: number | undefined;
      try {
        pid = (JSON.parse(await readFile(join(this.dir, SWEEP_FILE), 'utf8')) as { pid?: number }).pid;
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') break;
        pid = undefined; // being written: look again (for 3 s; longer, it is damaged)
      }
      if ((typeof pid === 'number' && !pidAlive(pid)) || (pid === undefined && look >= 30)) {
        await rm(join(this.dir, SWEEP_FILE), { force: true }).catch(() => {});
        break;
      }
      await sleep(100);
    }
    return () => rm(file, { force: true });
  }

  /**
   * Drops the damaged entry `judged` and its bad bytes. Uncommitted first, so a crash halfway leaves a miss.
   * Another build may have stored the step again since we read it: its newer index line is left alone, and
   * content that verifies now (rewritten good) is kept; only bytes that still fail their hash are deleted.
   */
  private async damaged(key: string, judged: IndexEntry, reason: string): Promise<undefined> {
    this.onDamage(key, reason);
    const now = await findEntry(this.dir, indexKey(key)).catch(() => null);
    if (now && now.integrity === judged.integrity && now.time === judged.time)
      await (await cacache()).rm.entry(this.dir, indexKey(key)).catch(() => {});
    const listed = (judged.metadata as Partial<IndexMetadata> | undefined)?.files;
    const integrities = [
      judged.integrity,
      ...(Array.isArray(listed)
        ? listed.map((f) => f?.integrity).filter((i): i is string => typeof i === 'string')
        : []),
    ];
    // cacache never overwrites existing content, so bad bytes must go before the step is stored again.
    for (const integrity of integrities) {
      try {
        await readContent(this.dir, integrity);
      } catch {
        await (await cacache()).rm.content(this.dir, integrity).catch(() => {});
      }
    }
    return undefined;
  }

  private unwritable(e: unknown): McbError {
    return new McbError(
      'MCB_OUTPUT',
      `cannot write to the cache directory ${this.dir} (${errnoCode(e) ?? String(e)}). Make it writable, free some space, or choose another with --cache-dir.`,
    );
  }

  private unreadable(e: unknown): McbError {
    return new McbError(
      'MCB_OUTPUT',
      `cannot read the cache directory ${this.dir} (${errnoCode(e) ?? String(e)}). Check its permissions, or choose another with --cache-dir.`,
    );
  }
}

const TOUCH_AFTER_MS = 60 * 60 * 1000;

function indexKey(key: string): string {
  return `step:${key}`;
}
