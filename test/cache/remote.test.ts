/**
 * RemoteCache against real servers: nginx with WebDAV (bench/servers.ts) for the normal protocol, and tiny
 * node:http servers on loopback for the misbehaving ones (5xx, 403 on PUT, no answer, endless body, capturing
 * headers). Nothing here mocks fetch.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { findCommand, freePort, startDav, type DavServer } from '../../bench/servers.js';
import { parseRemoteUrl, RemoteCache } from '../../src/cache/remote.js';
import type { CacheEntry } from '../../src/cache/store.js';
import { McbError } from '../../src/errors.js';
import { parseRedisUrl } from '../../src/distributed/redis.js';

// nginx (Debian's nginx-light, with the WebDAV module) is installed by .ci/run; on a machine without it the
// tests against the real WebDAV server are skipped rather than failed. The node:http tests always run.
const HAVE_NGINX = findCommand('nginx') !== undefined;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const stepKey = (name: string) => sha256(`step:${name}`);

const entry = (): CacheEntry => ({
  files: new Map([
    ['w.bin', new Uint8Array(4096).map((_, i) => (i * 7) % 251)],
    ['model.json', new TextEncoder().encode('{"format":"layers-model","weights":["w.bin"]}')],
    ['a-first.txt', new TextEncoder().encode('sorted before model.json')],
  ]),
  meta: { accuracy: 0.875, note: 'x', nested: { list: [1, 2, 3] } },
});

function collect(): { warnings: string[]; onWarning: (m: string) => void } {
  const warnings: string[] = [];
  return { warnings, onWarning: (m) => warnings.push(m) };
}

function expectSameEntry(got: CacheEntry | undefined, want: CacheEntry): void {
  expect(got).toBeDefined();
  expect(got!.meta).toEqual(want.meta);
  expect([...got!.files.keys()].sort()).toEqual([...want.files.keys()].sort());
  for (const [name, data] of want.files)
    expect(Buffer.from(got!.files.get(name)!).equals(Buffer.from(data))).toBe(true);
}

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
}

interface TestServer {
  url: string;
  server: Server;
  requests: Recorded[];
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP cache in memory: GET/HEAD serve `store`, PUT stores unless refused (then 403). */
async function memoryServer(opts: { refusePut?: boolean } = {}): Promise<TestServer & { store: Map<string, Buffer> }> {
  const store = new Map<string, Buffer>();
  const s = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url!;
      if (req.method === 'PUT') {
        if (opts.refusePut) {
          res.writeHead(403, { 'content-type': 'text/plain' }).end('uploads are not allowed\n');
          return;
        }
        store.set(path, Buffer.concat(chunks));
        res.writeHead(201).end();
        return;
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        const body = store.get(path);
        if (!body) {
          res.writeHead(404, { 'content-length': '0' }).end();
          return;
        }
        res.writeHead(200, { 'content-length': String(body.byteLength) });
        res.end(req.method === 'GET' ? body : undefined);
        return;
      }
      res.writeHead(405).end();
    });
  });
  return { ...s, store };
}

/** Puts an entry into a memory server's store in the remote layout, as another build would have uploaded it. */
function seed(store: Map<string, Buffer>, prefix: string, key: string, e: CacheEntry): void {
  const metaBytes = Buffer.from(JSON.stringify(e.meta));
  store.set(`${prefix}/cas/${sha256(metaBytes)}`, metaBytes);
  const files = [...e.files.keys()].sort().map((name) => {
    const data = Buffer.from(e.files.get(name)!);
    store.set(`${prefix}/cas/${sha256(data)}`, data);
    return { name, sha256: sha256(data), size: data.byteLength };
  });
  const record = {
    mcbuild: 'remote-cache/1',
    key,
    meta: { sha256: sha256(metaBytes), size: metaBytes.byteLength },
    files,
  };
  store.set(`${prefix}/ac/${key}`, Buffer.from(`${JSON.stringify(record)}\n`));
}

describe('RemoteCache against nginx WebDAV', () => {
  let dav: DavServer;

  beforeAll(async () => {
    if (HAVE_NGINX) dav = await startDav();
  });
  afterAll(async () => {
    await dav?.stop();
  });
  beforeEach(() => {
    if (!dav) return;
    for (const name of readdirSync(dav.root)) rmSync(join(dav.root, name), { recursive: true, force: true });
  });

  const open = (over: { mode?: 'read' | 'readwrite' } = {}) => {
    const w = collect();
    return {
      cache: new RemoteCache({ url: dav.url, timeoutMs: 10_000, onWarning: w.onWarning, ...over }),
      warnings: w.warnings,
    };
  };
  const readRecord = (key: string) =>
    JSON.parse(readFileSync(join(dav.root, 'ac', key), 'utf8')) as {
      mcbuild: string;
      key: string;
      meta: { sha256: string; size: number };
      files: { name: string; sha256: string; size: number }[];
    };
  const casPath = (hash: string) => join(dav.root, 'cas', hash);

  it.skipIf(!HAVE_NGINX)('writes an entry in the Bazel layout and reads it back byte-identical', async () => {
    const { cache, warnings } = open();
    const key = stepKey('roundtrip');
    const want = entry();

    expect(await cache.has(key)).toBe(false);
    expect(await cache.read(key)).toBeUndefined();
    expect(cache.stats.misses).toBe(1);

    expect(await cache.write(key, want)).toBe(true);
    expect(cache.stats.uploads).toBe(1);
    const metaBytes = Buffer.from(JSON.stringify(want.meta));
    const fileBytes = [...want.files.values()].reduce((n, d) => n + d.byteLength, 0);
    const recordBytes = readFileSync(join(dav.root, 'ac', key));
    expect(cache.stats.bytesUp).toBe(metaBytes.byteLength + fileBytes + recordBytes.byteLength);

    // The layout on disk.
    const record = readRecord(key);
    expect(record.mcbuild).toBe('remote-cache/1');
    expect(record.key).toBe(key);
    expect(record.meta).toEqual({ sha256: sha256(metaBytes), size: metaBytes.byteLength });
    expect(record.files.map((f) => f.name)).toEqual(['a-first.txt', 'model.json', 'w.bin']);
    for (const f of record.files) {
      const data = want.files.get(f.name)!;
      expect(f).toEqual({ name: f.name, sha256: sha256(data), size: data.byteLength });
    }
    for (const blob of [record.meta, ...record.files]) {
      const onDisk = readFileSync(casPath(blob.sha256));
      expect(onDisk.byteLength).toBe(blob.size);
      expect(sha256(onDisk)).toBe(blob.sha256);
    }
    expect(JSON.parse(readFileSync(casPath(record.meta.sha256), 'utf8'))).toEqual(want.meta);
    expect(
      Buffer.from(readFileSync(casPath(sha256(want.files.get('w.bin')!)))).equals(
        Buffer.from(want.files.get('w.bin')!),
      ),
    ).toBe(true);

    // Reading it back, in a fresh client as another build would.
    expect(await cache.has(key)).toBe(true);
    const other = open();
    const got = await other.cache.read(key);
    expectSameEntry(got, want);
    expect(other.cache.stats.hits).toBe(1);
    expect(other.cache.stats.misses).toBe(0);
    expect(other.cache.stats.bytesDown).toBe(recordBytes.byteLength + metaBytes.byteLength + fileBytes);

    const metaOnly = await other.cache.read(key, { metaOnly: true });
    expect(metaOnly?.meta).toEqual(want.meta);
    expect(metaOnly?.files.size).toBe(0);
    expect(other.cache.stats.hits).toBe(2);

    // A key nobody wrote.
    expect(await other.cache.read(stepKey('never written'))).toBeUndefined();
    expect(await other.cache.has(stepKey('never written'))).toBe(false);
    expect(other.cache.stats.misses).toBe(1);
    expect(cache.available).toBe(true);
    expect([...warnings, ...other.warnings]).toEqual([]);
  });

  it.skipIf(!HAVE_NGINX)('does not upload blobs the server already has', async () => {
    const { cache, warnings } = open();
    const key = stepKey('twice');
    expect(await cache.write(key, entry())).toBe(true);
    const record = readRecord(key);
    const blobs = [record.meta, ...record.files].map((b) => casPath(b.sha256));
    // A PUT rewrites the file: its mtime (in ns) moves. The record, which is always PUT, shows that it does.
    const stamp = (p: string) => {
      const s = statSync(p, { bigint: true });
      return [s.ino, s.mtimeNs, s.size];
    };
    const before = blobs.map(stamp);
    const recordStamp = stamp(join(dav.root, 'ac', key));
    await new Promise((r) => setTimeout(r, 20)); // a rewrite cannot land in the same mtime tick
    const bytesUp = cache.stats.bytesUp;

    // A fresh client (no memory of the first upload) and the same client both skip the blobs.
    const other = open();
    expect(await other.cache.write(key, entry())).toBe(true);
    expect(await cache.write(key, entry())).toBe(true);

    const after = blobs.map(stamp);
    expect(after).toEqual(before);
    const recordSize = statSync(join(dav.root, 'ac', key)).size;
    expect(other.cache.stats.bytesUp).toBe(recordSize);
    expect(cache.stats.bytesUp).toBe(bytesUp + recordSize);
    // The record itself is written again (last, after the blobs).
    expect(stamp(join(dav.root, 'ac', key))[1]).not.toBe(recordStamp[1]);
    expect([...warnings, ...other.warnings]).toEqual([]);
  });

  it.skipIf(!HAVE_NGINX)('treats a damaged blob as a miss, warns, and uploads it again on the next write', async () => {
    const { cache, warnings } = open();
    const key = stepKey('damaged blob');
    const want = entry();
    expect(await cache.write(key, want)).toBe(true);
    const w = want.files.get('w.bin')!;
    const blob = casPath(sha256(w));
    const bad = Buffer.from(w);
    bad[100]! ^= 1;
    writeFileSync(blob, bad); // same size, other bytes

    expect(await cache.read(key)).toBeUndefined();
    expect(cache.stats.damaged).toBe(1);
    expect(cache.stats.hits).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(key.slice(0, 12));
    expect(warnings[0]).toContain('failed verification');
    expect(cache.available).toBe(true);

    // The server still has a file at cas/<sha256>, but this client knows it is bad and PUTs it again.
    expect(await cache.write(key, want)).toBe(true);
    expect(readFileSync(blob).equals(Buffer.from(w))).toBe(true);
    expectSameEntry(await cache.read(key), want);
    expect(cache.stats.hits).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  it.skipIf(!HAVE_NGINX)('treats a blob longer than its recorded size as damage, and uploads it again', async () => {
    const { cache, warnings } = open();
    const key = stepKey('long blob');
    const want = entry();
    expect(await cache.write(key, want)).toBe(true);
    const w = want.files.get('w.bin')!;
    const blob = casPath(sha256(w));
    appendFileSync(blob, Buffer.alloc(8 << 20, 1)); // 8 MiB more than the record says

    expect(await cache.read(key)).toBeUndefined();
    expect(cache.stats.damaged).toBe(1);
    // Nothing of the blob was counted as downloaded: it was refused on its Content-Length.
    expect(cache.stats.bytesDown).toBeLessThan(4096);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(key.slice(0, 12));

    expect(await cache.write(key, want)).toBe(true);
    expect(statSync(blob).size).toBe(w.byteLength);
    expectSameEntry(await cache.read(key), want);
  });

  it.skipIf(!HAVE_NGINX)('treats a missing blob as a miss and uploads it again', async () => {
    const { cache, warnings } = open();
    const key = stepKey('missing blob');
    const want = entry();
    expect(await cache.write(key, want)).toBe(true);
    rmSync(casPath(sha256(want.files.get('model.json')!)));
    expect(await cache.read(key)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('missing');
    expect(await cache.write(key, want)).toBe(true);
    expectSameEntry(await cache.read(key), want);
  });

  it.skipIf(!HAVE_NGINX)('treats a record naming another key, or not JSON, as a miss with a warning', async () => {
    const { cache, warnings } = open();
    const key = stepKey('original');
    expect(await cache.write(key, entry())).toBe(true);

    const foreign = stepKey('foreign');
    writeFileSync(join(dav.root, 'ac', foreign), readFileSync(join(dav.root, 'ac', key)));
    expect(await cache.read(foreign)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(foreign.slice(0, 12));
    expect(warnings[0]).toContain('another key');

    const garbage = stepKey('garbage');
    writeFileSync(join(dav.root, 'ac', garbage), 'this is not json {');
    expect(await cache.read(garbage)).toBeUndefined();
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain(garbage.slice(0, 12));
    expect(warnings[1]).toContain('not JSON');

    const bazel = stepKey('bazel');
    writeFileSync(join(dav.root, 'ac', bazel), JSON.stringify({ key: bazel, outputs: [] }));
    expect(await cache.read(bazel)).toBeUndefined();
    expect(warnings).toHaveLength(3);

    expect(cache.stats.hits).toBe(0);
    expect(cache.available).toBe(true);
    // The real entry is untouched by all that.
    expectSameEntry(await cache.read(key), entry());
  });

  it.skipIf(!HAVE_NGINX)('mode read never uploads', async () => {
    const { cache, warnings } = open({ mode: 'read' });
    expect(cache.mode).toBe('read');
    expect(await cache.write(stepKey('ro'), entry())).toBe(false);
    expect(readdirSync(dav.root)).toEqual([]);
    expect(cache.stats.uploads).toBe(0);
    expect(cache.stats.bytesUp).toBe(0);
    expect(warnings).toEqual([]);

    // ...but reads what others uploaded.
    expect(await open().cache.write(stepKey('ro'), entry())).toBe(true);
    expectSameEntry(await cache.read(stepKey('ro')), entry());
  });
});

describe('RemoteCache against a failing server', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    vi.restoreAllMocks();
  });

  async function expectOutage(cache: RemoteCache, warnings: string[]): Promise<void> {
    const key = stepKey('outage');
    expect(await cache.has(key)).toBe(false);
    expect(await cache.read(key)).toBeUndefined();
    expect(await cache.write(key, entry())).toBe(false);
    for (let i = 0; i < 5; i++) {
      expect(await cache.has(stepKey(`o${i}`))).toBe(false);
      expect(await cache.read(stepKey(`o${i}`), { metaOnly: true })).toBeUndefined();
      expect(await cache.write(stepKey(`o${i}`), entry())).toBe(false);
    }
    expect(cache.available).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('unreachable');
    expect(cache.stats.hits + cache.stats.uploads + cache.stats.damaged).toBe(0);
  }

  it('a closed port: every call gives up quietly, with one warning', async () => {
    const port = await freePort(); // free, and nobody listens on it
    const w = collect();
    const cache = new RemoteCache({ url: `http://127.0.0.1:${port}/cache`, timeoutMs: 5_000, onWarning: w.onWarning });
    expect(cache.available).toBe(true);
    await expectOutage(cache, w.warnings);
    expect(w.warnings[0]).toContain(`127.0.0.1:${port}`);
  });

  it('HTTP 500: the breaker opens after the first failure and no further requests are sent', async () => {
    const s = await listen((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('broken\n'));
    servers.push(s);
    const w = collect();
    const cache = new RemoteCache({ url: s.url, timeoutMs: 5_000, onWarning: w.onWarning });
    expect(await cache.read(stepKey('x'))).toBeUndefined();
    const sent = s.requests.length;
    expect(sent).toBe(1);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]).toContain('500');
    await expectOutage(cache, w.warnings);
    expect(s.requests.length).toBe(sent);
  });

  it('the breaker tries again after a minute (watch mode)', async () => {
    let failing = true;
    const mem = await memoryServer();
    servers.push(mem);
    const s = await listen((req, res) => {
      if (failing) {
        res.writeHead(503).end();
        return;
      }
      // Forward to the in-memory cache.
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      const forward = async () => {
        const r = await fetch(`${mem.url}${req.url}`, {
          method: req.method ?? 'GET',
          ...(req.method === 'PUT' ? { body: Buffer.concat(chunks) } : {}),
        });
        const body = Buffer.from(await r.arrayBuffer());
        res
          .writeHead(r.status, { 'content-length': r.headers.get('content-length') ?? String(body.byteLength) })
          .end(req.method === 'HEAD' ? undefined : body);
      };
      // Not awaited by the emitter: a failure surfaces as an unhandled rejection, which fails the test run.
      req.on('end', () => void forward());
    });
    servers.push(s);
    const w = collect();
    const cache = new RemoteCache({ url: s.url, timeoutMs: 5_000, onWarning: w.onWarning });
    const key = stepKey('retry');
    expect(await cache.write(key, entry())).toBe(false);
    expect(cache.available).toBe(false);
    failing = false;
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect(cache.available).toBe(true);
    expect(await cache.write(key, entry())).toBe(true);
    expectSameEntry(await cache.read(key), entry());
    expect(w.warnings).toHaveLength(1);
  });

  it('a server that never answers: timeoutMs bounds every call, one warning', async () => {
    const s = await listen(() => {
      /* accepts the request and never answers */
    });
    servers.push(s);
    const w = collect();
    const cache = new RemoteCache({ url: s.url, timeoutMs: 300, onWarning: w.onWarning });
    const started = Date.now();
    expect(await cache.read(stepKey('hang'))).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]).toContain('no answer within 0.3 s');
    expect(s.requests).toHaveLength(1);
    // The breaker is open: the following calls return at once without another request.
    expect(await cache.has(stepKey('hang'))).toBe(false);
    expect(await cache.write(stepKey('hang'), entry())).toBe(false);
    expect(s.requests).toHaveLength(1);
    expect(w.warnings).toHaveLength(1);
  });

  it('a blob that streams without end is cut off at its recorded size', async () => {
    const mem = await memoryServer();
    servers.push(mem);
    const key = stepKey('endless');
    const want = entry();
    seed(mem.store, '', key, want);
    const endlessHash = sha256(want.files.get('w.bin')!);
    let sentBytes = 0;
    let closed = false;
    // In front of the memory server: the w.bin blob is answered with a chunked body that never ends.
    const s = await listen((req, res) => {
      if (req.url === `/cas/${endlessHash}` && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no content-length: chunked
        const chunk = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) sentBytes += chunk.byteLength;
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => (closed = true));
        pump();
        return;
      }
      const body = mem.store.get(req.url!);
      if (!body) {
        res.writeHead(404, { 'content-length': '0' }).end();
        return;
      }
      res.writeHead(200, { 'content-length': String(body.byteLength) }).end(req.method === 'GET' ? body : undefined);
    });
    servers.push(s);
    const w = collect();
    const cache = new RemoteCache({ url: s.url, timeoutMs: 10_000, onWarning: w.onWarning });
    expect(await cache.read(key)).toBeUndefined();
    expect(cache.stats.damaged).toBe(1);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]).toContain(key.slice(0, 12));
    expect(cache.available).toBe(true);
    await vi.waitFor(() => expect(closed).toBe(true), { timeout: 5_000 });
    // The client stopped reading long before anything large was sent.
    expect(sentBytes).toBeLessThan(64 << 20);
    // metaOnly does not touch the endless blob.
    expect((await cache.read(key, { metaOnly: true }))?.meta).toEqual(want.meta);
  });

  it('a server refusing PUT with 403: one warning, no more uploads, reads still work', async () => {
    const s = await memoryServer({ refusePut: true });
    servers.push(s);
    const seeded = stepKey('seeded');
    const want = entry();
    seed(s.store, '', seeded, want);
    const w = collect();
    const cache = new RemoteCache({ url: s.url, timeoutMs: 5_000, onWarning: w.onWarning });

    expect(await cache.write(stepKey('new'), entry())).toBe(false);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]).toContain('refuses uploads');
    expect(w.warnings[0]).toContain('403');
    const puts = s.requests.filter((r) => r.method === 'PUT').length;
    expect(puts).toBe(1);

    const before = s.requests.length;
    expect(await cache.write(stepKey('new2'), entry())).toBe(false);
    expect(await cache.write(stepKey('new3'), entry())).toBe(false);
    expect(s.requests.length).toBe(before); // not even tried
    expect(w.warnings).toHaveLength(1);

    // Not an outage: reads go on.
    expect(cache.available).toBe(true);
    expect(await cache.has(seeded)).toBe(true);
    expectSameEntry(await cache.read(seeded), want);
    expect(await cache.read(stepKey('new'))).toBeUndefined();
    expect(cache.stats.hits).toBe(1);
    expect(cache.stats.misses).toBe(1);
    expect(cache.stats.uploads).toBe(0);
    expect(w.warnings).toHaveLength(1);
  });

  it('credentials in the URL become Basic auth, a base path is kept, and neither leaks into `shown`', async () => {
    const s = await memoryServer();
    servers.push(s);
    const port = new URL(s.url).port;
    const w = collect();
    const cache = new RemoteCache({
      url: `http://user:p%40ss@127.0.0.1:${port}/base/`,
      timeoutMs: 5_000,
      onWarning: w.onWarning,
    });
    expect(cache.shown).toBe(`http://127.0.0.1:${port}/base`);
    expect(cache.shown).not.toContain('user');
    expect(cache.shown).not.toContain('p%40ss');

    const key = stepKey('auth');
    expect(await cache.write(key, entry())).toBe(true);
    expectSameEntry(await cache.read(key), entry());
    expect(await cache.has(key)).toBe(true);

    expect(s.requests.length).toBeGreaterThan(0);
    const expected = `Basic ${Buffer.from('user:p@ss').toString('base64')}`;
    for (const r of s.requests) {
      expect(r.url).toMatch(/^\/base\/(ac|cas)\/[0-9a-f]{64}$/);
      expect(r.authorization).toBe(expected);
    }
    expect(s.requests.some((r) => r.method === 'PUT' && r.url === `/base/ac/${key}`)).toBe(true);
    expect([...s.store.keys()].every((p) => p.startsWith('/base/'))).toBe(true);
    expect(w.warnings).toEqual([]);

    // Warnings name the server without the credentials too.
    const refused = await memoryServer({ refusePut: true });
    servers.push(refused);
    const w2 = collect();
    const c2 = new RemoteCache({
      url: `http://user:secret@127.0.0.1:${new URL(refused.url).port}/base`,
      onWarning: w2.onWarning,
    });
    expect(await c2.write(key, entry())).toBe(false);
    expect(w2.warnings).toHaveLength(1);
    expect(w2.warnings[0]).not.toContain('secret');
  });

  it('without credentials sends no Authorization header', async () => {
    const s = await memoryServer();
    servers.push(s);
    const cache = new RemoteCache({ url: s.url });
    await cache.has(stepKey('anon'));
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]!.authorization).toBeUndefined();
    expect(s.requests[0]!.url).toBe(`/ac/${stepKey('anon')}`);
  });
});

describe('parseRemoteUrl and key checks', () => {
  const usage = (text: string, where?: string): McbError => {
    try {
      parseRemoteUrl(text, where);
    } catch (e) {
      expect(e).toBeInstanceOf(McbError);
      expect((e as McbError).code).toBe('MCB_USAGE');
      return e as McbError;
    }
    throw new Error(`parseRemoteUrl accepted ${text}`);
  };

  it('refuses other schemes, queries, fragments and garbage, naming the flag', () => {
    expect(usage('ftp://cache.internal/mcbuild').message).toMatch(/--remote-cache .*ftp:/);
    expect(usage('s3://bucket/prefix').message).toContain('--remote-cache');
    expect(usage('http://cache.internal/mcbuild?token=1').message).toMatch(/--remote-cache .*query/);
    expect(usage('http://cache.internal/mcbuild#x').message).toContain('--remote-cache');
    expect(usage('not a url at all').message).toMatch(/--remote-cache "not a url at all" is not a URL/);
    expect(usage('', '--remote-cache-url').message).toContain('--remote-cache-url');
    expect(() => new RemoteCache({ url: 'cache.internal:8080' })).toThrow(McbError);
  });

  it('never prints credentials, even from a URL that does not parse', () => {
    const m = usage('https://ci:ab/cd#ef@cache.internal/mcbuild').message;
    expect(m).not.toMatch(/ab\/cd|#ef/);
    expect(m).toContain('https://***@cache.internal/mcbuild');
    const r = usage('ftp://user:s3cret@cache.internal/').message;
    expect(r).not.toContain('s3cret');
    // A password with an unescaped @, a URL without its scheme, a Redis URL that does not parse.
    expect(usage('https://user:p@ss@cache.internal/x?y').message).not.toMatch(/p@ss|ss@/);
    expect(usage('user:tok3n@cache.internal:8080/mcbuild').message).not.toContain('tok3n');
    expect(() => parseRedisUrl(':s3cret@host:6379', '--workers')).toThrow(McbError);
    try {
      parseRedisUrl(':s3cret@host:6379', '--workers');
    } catch (e) {
      expect((e as Error).message).not.toContain('s3cret');
    }
  });

  it('a cancelled build stops a transfer as a cancellation (exit 130), not as an outage or a bug', async () => {
    const s = await memoryServer();
    try {
      const warnings: string[] = [];
      const cache = new RemoteCache({ url: s.url, onWarning: (m) => warnings.push(m) });
      const stopped = AbortSignal.abort();
      for (const call of [
        () => cache.has(stepKey('c'), { signal: stopped }),
        () => cache.read(stepKey('c'), { signal: stopped }),
        () => cache.write(stepKey('c'), entry(), { signal: stopped }),
      ]) {
        const e = await call().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(e).toBeInstanceOf(McbError);
        expect((e as McbError).code).toBe('MCB_CANCELLED');
        expect((e as McbError).exitCode).toBe(130);
      }
      expect(warnings).toEqual([]);
      expect(cache.available).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('accepts http and https base URLs', () => {
    expect(parseRemoteUrl('http://127.0.0.1:8080/mcbuild').pathname).toBe('/mcbuild');
    expect(parseRemoteUrl('https://cache.example.com').protocol).toBe('https:');
  });

  it('throws on a key that is not 64 lowercase hex characters, before any request', async () => {
    const s = await memoryServer();
    try {
      const cache = new RemoteCache({ url: s.url });
      for (const bad of [
        'abc',
        stepKey('x').slice(0, 63),
        stepKey('x').toUpperCase(),
        `${stepKey('x').slice(0, 63)}g`,
        '../../etc/passwd',
        '',
      ]) {
        await expect(cache.has(bad)).rejects.toThrow(/not a step key/);
        await expect(cache.read(bad)).rejects.toThrow(/not a step key/);
        await expect(cache.write(bad, entry())).rejects.toThrow(/not a step key/);
      }
      expect(s.requests).toHaveLength(0);
    } finally {
      await s.close();
    }
  });
});
