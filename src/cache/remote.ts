/**
 * The remote cache: the step cache shared over plain HTTP, in the layout of Bazel's HTTP cache, so it runs on
 * any server that stores what is PUT and serves it back — nginx with WebDAV, bazel-remote (start it with
 * --disable_http_ac_validation: our action records are JSON, not Bazel's protobuf), or an object store behind
 * such a gateway.
 *
 *   /cas/<sha256 of the bytes>   every file of an entry, and its metadata JSON (content-addressed)
 *   /ac/<step key>               the action record: {"mcbuild":"remote-cache/1","key",meta,files:[{name,sha256,size}]}
 *
 * An entry is uploaded blobs first, its action record last: a reader that finds the record finds its blobs.
 * Every download is checked against its sha256 and size (a blob that fails is a miss and is uploaded again by
 * the next build that computes it), the record must name its own key, and nothing larger than the record says
 * is read. The remote cache is an accelerator, never a dependency: a network error, a timeout or a 5xx opens a
 * circuit breaker — one warning, then this process goes on with the local cache alone (it tries again after
 * RETRY_AFTER_MS, for watch mode) — so an outage never fails a build that could succeed locally.
 */
import { createHash } from 'node:crypto';
import { cancelled, McbError } from '../errors.js';
import type { CacheEntry } from './store.js';

export type RemoteMode = 'read' | 'readwrite';
export const REMOTE_MODES: readonly RemoteMode[] = ['read', 'readwrite'];

export interface RemoteCacheOptions {
  url: string;
  mode?: RemoteMode;
  /** Per request; a request that takes longer counts as an outage. */
  timeoutMs?: number;
  onWarning?: (message: string) => void;
}

export interface RemoteStats {
  hits: number;
  misses: number;
  uploads: number;
  bytesDown: number;
  bytesUp: number;
  damaged: number;
}

const FORMAT = 'remote-cache/1';
/** An action record is a few hundred bytes; a larger answer is not one of ours. */
const MAX_RECORD_BYTES = 1 << 20;
const RETRY_AFTER_MS = 60_000;
const KEY = /^[0-9a-f]{64}$/;
/** What a cancelled transfer leaves: a partial upload is never recorded, a partial download never stored. */
const TRANSFER_CANCELLED = 'the build was cancelled; nothing half-transferred was kept.';
const FILE_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,200}$/;

interface Blob {
  sha256: string;
  size: number;
}

interface ActionRecord {
  mcbuild: typeof FORMAT;
  key: string;
  meta: Blob;
  files: (Blob & { name: string })[];
}

/** An answer we cannot use from a server that is up (damage, a foreign record): a miss, not an outage. */
class Unusable extends Error {}
/** The server cannot be reached or is failing: opens the breaker. */
class Outage extends Error {}

export class RemoteCache {
  readonly mode: RemoteMode;
  /** The URL as shown in messages: without credentials. */
  readonly shown: string;
  readonly stats: RemoteStats = { hits: 0, misses: 0, uploads: 0, bytesDown: 0, bytesUp: 0, damaged: 0 };
  private readonly base: string;
  private readonly headers: Record<string, string> = {};
  private readonly timeoutMs: number;
  private readonly warn: (message: string) => void;
  private openUntil = 0;
  private outageWarned = false;
  private uploadsRefused = false;
  /** Blobs that failed verification here: uploaded again even though the server says it has them. */
  private readonly badBlobs = new Set<string>();
  private readonly missedKeys = new Set<string>();

  constructor(opts: RemoteCacheOptions) {
    const url = parseRemoteUrl(opts.url);
    if (url.username || url.password) {
      this.headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.base = url.href.replace(/\/+$/, '');
    this.shown = this.base;
    this.mode = opts.mode ?? 'readwrite';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.warn = opts.onWarning ?? (() => {});
  }

  /** False while the breaker is open. */
  get available(): boolean {
    return Date.now() >= this.openUntil;
  }

  /** Whether the server holds an action record for `key` (HEAD; cheap, nothing verified yet). */
  async has(key: string, opts: { signal?: AbortSignal; countMiss?: boolean } = {}): Promise<boolean> {
    checkKey(key);
    if (!this.available) return false;
    try {
      const res = await this.request('HEAD', `ac/${key}`, undefined, opts.signal);
      if (res.status !== 200 && opts.countMiss !== false) this.missed(key);
      return res.status === 200;
    } catch (e) {
      if (opts.signal?.aborted) throw cancelled(TRANSFER_CANCELLED);
      this.trip(e);
      return false;
    }
  }

  /**
   * The entry for `key`, every byte verified; undefined on a miss, on damage (warned, counted) and while the
   * breaker is open. With metaOnly, only the record and the metadata are fetched (files is empty).
   */
  async read(key: string, opts: { metaOnly?: boolean; signal?: AbortSignal } = {}): Promise<CacheEntry | undefined> {
    checkKey(key);
    if (!this.available) return undefined;
    try {
      const recordBytes = await this.download(`ac/${key}`, MAX_RECORD_BYTES, opts.signal);
      if (!recordBytes) {
        this.missed(key);
        return undefined;
      }
      const record = parseRecord(recordBytes, key);
      const metaBytes = await this.blob(record.meta, opts.signal);
      let meta: Record<string, unknown>;
      try {
        meta = JSON.parse(new TextDecoder().decode(metaBytes)) as Record<string, unknown>;
      } catch {
        throw new Unusable('its metadata is not JSON');
      }
      const files = new Map<string, Uint8Array>();
      if (!opts.metaOnly) for (const f of record.files) files.set(f.name, await this.blob(f, opts.signal));
      this.stats.hits++;
      return { files, meta };
    } catch (e) {
      if (e instanceof Unusable) {
        this.stats.damaged++;
        this.warn(
          `remote cache entry ${key.slice(0, 12)} at ${this.shown} is unusable (${e.message}); it is treated as a miss${this.mode === 'readwrite' ? ' and uploaded again once computed' : ''}`,
        );
        return undefined;
      }
      if (opts.signal?.aborted) throw cancelled(TRANSFER_CANCELLED);
      this.trip(e);
      return undefined;
    }
  }

  /**
   * Uploads an entry (readwrite mode): blobs the server lacks, then the action record. Returns whether the
   * entry is now on the server. Never throws for the server's sake: an outage trips the breaker, a refused
   * upload (401/403/405…) warns once and stops uploading.
   */
  async write(key: string, entry: CacheEntry, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    checkKey(key);
    if (this.mode !== 'readwrite' || this.uploadsRefused || !this.available) return false;
    try {
      const metaBytes = new TextEncoder().encode(JSON.stringify(entry.meta));
      const meta = await this.putBlob(metaBytes, opts.signal);
      const files: ActionRecord['files'] = [];
      for (const [name, data] of [...entry.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        files.push({ name, ...(await this.putBlob(data, opts.signal)) });
      }
      const record: ActionRecord = { mcbuild: FORMAT, key, meta, files };
      await this.put(`ac/${key}`, new TextEncoder().encode(`${JSON.stringify(record)}\n`), opts.signal);
      this.stats.uploads++;
      return true;
    } catch (e) {
      if (opts.signal?.aborted) throw cancelled(TRANSFER_CANCELLED);
      if (e instanceof Unusable) {
        this.uploadsRefused = true;
        this.warn(
          `remote cache ${this.shown} refuses uploads (${e.message}); this build goes on reading from it without uploading (use --remote-cache-mode=read to say so)`,
        );
        return false;
      }
      this.trip(e);
      return false;
    }
  }

  /** Counts each key looked up and not found once, however often it is asked for. */
  private missed(key: string): void {
    if (this.missedKeys.has(key)) return;
    this.missedKeys.add(key);
    this.stats.misses++;
  }

  private async putBlob(data: Uint8Array, signal: AbortSignal | undefined): Promise<Blob> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const path = `cas/${sha256}`;
    const present = !this.badBlobs.has(sha256) && (await this.request('HEAD', path, undefined, signal)).status === 200;
    if (!present) await this.put(path, data, signal);
    this.badBlobs.delete(sha256);
    return { sha256, size: data.byteLength };
  }

  private async put(path: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const res = await this.request('PUT', path, data, signal);
    if (res.status >= 200 && res.status < 300) {
      this.stats.bytesUp += data.byteLength;
      return;
    }
    throw new Unusable(`PUT /${path} answered HTTP ${res.status}`);
  }

  private async blob(b: Blob, signal: AbortSignal | undefined): Promise<Uint8Array> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.download(`cas/${b.sha256}`, b.size, signal);
    } catch (e) {
      // Longer than its size (or otherwise unusable): as damaged as a wrong hash, so upload it again.
      if (e instanceof Unusable) this.badBlobs.add(b.sha256);
      throw e;
    }
    if (!bytes) throw new Unusable(`its blob ${b.sha256.slice(0, 12)} is missing`);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (bytes.byteLength !== b.size || actual !== b.sha256) {
      this.badBlobs.add(b.sha256);
      throw new Unusable(
        `its blob ${b.sha256.slice(0, 12)} failed verification (${bytes.byteLength} bytes, sha256 ${actual.slice(0, 12)})`,
      );
    }
    return bytes;
  }

  /** GETs a body of at most `limit` bytes; undefined on 404. */
  private async download(
    path: string,
    limit: number,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    // A blob's size is known (the time limit grows with it); a record's limit is a cap, not its size.
    const res = await this.request('GET', path, undefined, signal, path.startsWith('cas/') ? limit : 0);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      // 401/403 (credentials), 400, a redirect loop…: every request would answer the same, so it is an outage.
      throw new Outage(
        `GET /${path} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ': check the credentials in the URL' : ''}`,
      );
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > limit) {
      await res.body?.cancel();
      throw new Unusable(`/${path} is ${declared} bytes, more than the ${limit} expected`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader: ReadableStreamDefaultReader<Uint8Array> = res.body!.getReader();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (signal?.aborted) throw cancelled(TRANSFER_CANCELLED);
        throw new Outage(`GET /${path} broke off (${describeFetchError(e)})`);
      }
      const { done, value } = chunk;
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        throw new Unusable(`/${path} is more than the ${limit} bytes expected`);
      }
      chunks.push(value);
    }
    this.stats.bytesDown += size;
    return Buffer.concat(chunks);
  }

  private async request(
    method: string,
    path: string,
    body?: Uint8Array,
    signal?: AbortSignal,
    expectBytes = 0,
  ): Promise<Response> {
    // The limit covers the whole transfer, so it grows with the bytes moved (as if at 100 kB/s at the least):
    // a large shard on a slow link is slow, not an outage.
    const limitMs = Math.ceil(this.timeoutMs + ((body?.byteLength ?? expectBytes) / 100_000) * 1000);
    const timeout = AbortSignal.timeout(limitMs);
    let res: Response;
    try {
      res = await fetch(`${this.base}/${path}`, {
        method,
        headers: { ...this.headers, ...(body ? { 'content-type': 'application/octet-stream' } : {}) },
        ...(body ? { body } : {}),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (e) {
      if (signal?.aborted) throw cancelled(TRANSFER_CANCELLED);
      throw new Outage(
        timeout.aborted ? `no answer within ${Math.round(limitMs / 100) / 10} s` : describeFetchError(e),
      );
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new Outage(`${method} /${path} answered HTTP ${res.status}`);
    }
    if (method === 'HEAD' && res.status !== 200 && res.status !== 404) {
      throw new Outage(
        `HEAD /${path} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ': check the credentials in the URL' : ''}`,
      );
    }
    return res;
  }

  /** Opens the breaker on an outage (damage and refused uploads are handled where they are met). */
  private trip(e: unknown): void {
    const reason = e instanceof Error ? e.message : String(e);
    const first = !this.outageWarned;
    this.outageWarned = true;
    this.openUntil = Date.now() + RETRY_AFTER_MS;
    if (first) this.warn(`remote cache ${this.shown} is unreachable (${reason}); going on with the local cache only`);
  }
}

/** An http(s) URL, or exit 2 naming the problem. */
export function parseRemoteUrl(raw: string, where = '--remote-cache'): URL {
  let url: URL;
  const text = redactUrl(raw);
  try {
    url = new URL(raw);
  } catch {
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(text)} is not a URL; give the cache server's base URL, e.g. http://cache.internal:8080/mcbuild (its /ac/ and /cas/ folders are created below it).`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(text)} uses ${url.protocol}; the remote cache speaks HTTP (http:// or https://). For S3 or GCS, put bazel-remote or another HTTP gateway in front of the bucket.`,
    );
  }
  if (url.search || url.hash)
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(text)} has a query or fragment; give the base URL alone.`,
    );
  return url;
}

/** The URL as it may be printed: whatever stands before an @ in its authority (user:token) is masked. */
export function redactUrl(text: string): string {
  // Up to the last @: a password may hold an unescaped @, / or #, a URL may lack its scheme. (An @ further on,
  // in a path, masks more than needed: this is only a message.)
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1***@');
}

function checkKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`not a step key: ${key}`);
}

function parseRecord(bytes: Uint8Array, key: string): ActionRecord {
  let r: Partial<ActionRecord>;
  try {
    r = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ActionRecord>;
  } catch {
    throw new Unusable('its action record is not JSON');
  }
  const blob = (b: unknown): b is Blob =>
    typeof b === 'object' &&
    b !== null &&
    /^[0-9a-f]{64}$/.test(String((b as Blob).sha256)) &&
    Number.isSafeInteger((b as Blob).size) &&
    (b as Blob).size >= 0;
  if (r?.mcbuild !== FORMAT) throw new Unusable(`its action record is not ${FORMAT}`);
  if (r.key !== key) throw new Unusable('its action record names another key');
  if (!blob(r.meta) || r.meta.size > MAX_RECORD_BYTES * 16)
    throw new Unusable('its action record has no valid metadata blob');
  const names = new Set<string>();
  if (
    !Array.isArray(r.files) ||
    !r.files.every(
      (f) => blob(f) && typeof f.name === 'string' && FILE_NAME.test(f.name) && !names.has(f.name) && names.add(f.name),
    )
  ) {
    throw new Unusable('its action record lists invalid files');
  }
  return r as ActionRecord;
}

function describeFetchError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}
