/**
 * The remote cache end to end: real builds of a tiny recipe against a real cache server (Debian's nginx with
 * WebDAV on a loopback port, bench/servers.ts), no mocks. Two "machines" are two project folders with their
 * own caches: what one builds, the other downloads instead of computing, byte for byte; an outage, a read-only
 * cache, a damaged blob and a Redis that is down never fail a build that can succeed locally; the project
 * configuration (mcbuild.config.yaml) names the server without flags; mistakes are usage errors (exit 2).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCommand, freePort, startDav, type DavServer } from '../../bench/servers.js';
import { listFiles, runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

// CI installs nginx (.ci/run); a machine without it skips the tests that need a cache server.
const hasNginx = findCommand('nginx') !== undefined;

const dir = tempDir('mcbuild-remote-');
const RECIPE = tinyRecipe();
/** Deterministic outputs; run.json (timings) and report.html (its page) are not. */
const DETERMINISTIC = ['model.json', 'group1-shard1of1.bin', 'report.json', 'provenance.json', 'manifest.json'];
const STEPS = ['baseline', 'eval-baseline', 'pass-1-quantize', 'eval-result'];

/** A project of its own (its package.json makes it the project root) holding tiny.yaml and maybe a config. */
function project(name: string, config?: string): string {
  const root = join(dir, name);
  writeText(join(root, 'package.json'), `{"name":"${name}","private":true}\n`);
  writeText(join(root, 'tiny.yaml'), RECIPE);
  if (config !== undefined) writeText(join(root, 'mcbuild.config.yaml'), config);
  return root;
}

/** Builds tiny.yaml in `root` with the cache `cacheDir` (under the test folder) and logs computed steps. */
async function build(root: string, cacheDir: string, args: string[] = [], stepLog?: string): Promise<CliRun> {
  return runCli(['tiny.yaml', '--cache-dir', join(dir, cacheDir), ...args], {
    cwd: root,
    ...(stepLog ? { env: { MCBUILD_STEP_LOG: stepLog } } : {}),
  });
}

interface StepLogLine {
  event: 'start' | 'done';
  key: string;
  step: string;
}
const stepLog = (file: string): StepLogLine[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as StepLogLine)
    : [];
const started = (file: string) => stepLog(file).filter((l) => l.event === 'start');

const files = (root: string, sub: 'ac' | 'cas') =>
  existsSync(join(root, sub)) ? readdirSync(join(root, sub)).sort() : [];
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const summary = (r: CliRun) => r.stdout.trimEnd().split('\n').at(-1)!;
const warnings = (r: CliRun, pattern: RegExp) => r.stderr.split('\n').filter((l) => pattern.test(l));

function expectSameOutput(a: string, b: string): void {
  for (const f of DETERMINISTIC)
    expect(readFileSync(join(b, 'out', f)).equals(readFileSync(join(a, 'out', f))), f).toBe(true);
}

describe.skipIf(!hasNginx)('a team sharing one cache server', () => {
  let dav: DavServer;
  const a = project('machine-a');
  const b = project('machine-b');
  let first: CliRun;

  beforeAll(async () => {
    dav = await startDav();
    first = await build(a, 'cache-a', ['--remote-cache', dav.url]);
  });
  afterAll(() => dav?.stop());

  it('the first machine builds and uploads every step: one action record per step, blobs that hash to their names', () => {
    expect(first.code, first.all).toBe(0);
    expect(summary(first)).toMatch(/^4 steps, 0 cached, 4 run in [\d.]+ s; remote cache: 0 hits, 4 uploads — PASS$/);
    expect(files(dav.root, 'ac')).toHaveLength(STEPS.length);
    for (const key of files(dav.root, 'ac')) {
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      const record = JSON.parse(readFileSync(join(dav.root, 'ac', key), 'utf8')) as {
        key: string;
        files: { name: string }[];
      };
      expect(record).toMatchObject({ mcbuild: 'remote-cache/1', key });
    }
    for (const blob of files(dav.root, 'cas')) expect(sha256(join(dav.root, 'cas', blob)), blob).toBe(blob);
  });

  it('a second machine with an empty cache downloads every step, computes none, and writes the same bytes', async () => {
    const log = join(dir, 'b.steps.jsonl');
    const r = await build(b, 'cache-b', ['--remote-cache', dav.url], log);
    expect(r.code, r.all).toBe(0);
    expect(stepLog(log)).toEqual([]);
    expect(r.stderr).toMatch(/^plan: 4 steps, 4 in cache \(4 in the remote cache\)/m);
    for (const id of STEPS)
      expect(r.stderr).toMatch(new RegExp(`^\\[cached\\] ${id}: .*downloaded from the remote cache\\)$`, 'm'));
    expect(r.stderr).not.toMatch(/^\[run\]/m);
    expect(summary(r)).toMatch(/^4 steps, 4 cached, 0 run in [\d.]+ s; remote cache: 4 hits, 0 uploads — PASS$/);
    expectSameOutput(a, b);
    // Nothing was uploaded again.
    expect(files(dav.root, 'ac')).toHaveLength(STEPS.length);
  });

  it('the next build there is all local hits: the downloads were kept in its cache', async () => {
    const log = join(dir, 'b2.steps.jsonl');
    const r = await build(b, 'cache-b', ['--remote-cache', dav.url, '--json'], log);
    expect(r.code, r.all).toBe(0);
    const out = JSON.parse(r.stdout) as { cached: string[]; ran: string[]; verdict: string };
    expect(out).toMatchObject({ cached: STEPS, ran: [], verdict: 'pass' });
    expect(stepLog(log)).toEqual([]);
    // And with the server out of reach it asks nothing of it: no warning, nothing computed.
    const offline = await build(b, 'cache-b', ['--remote-cache', `http://127.0.0.1:${await freePort()}`], log);
    expect(offline.code, offline.all).toBe(0);
    expect(offline.stderr).not.toMatch(/warning|downloaded from the remote cache/);
    expect(summary(offline)).toMatch(/^4 steps, 4 cached, 0 run in [\d.]+ s; remote cache: 0 hits, 0 uploads — PASS$/);
    expect(stepLog(log)).toEqual([]);
    expectSameOutput(a, b);
  });

  it('a damaged blob on the server is a warned miss: the step is recomputed, the result is the same, the blob is repaired', async () => {
    // The biggest blob: the baseline's float32 weights.
    const blobs = files(dav.root, 'cas').map((name) => ({ name, path: join(dav.root, 'cas', name) }));
    const victim = blobs.sort((x, y) => statSync(y.path).size - statSync(x.path).size)[0]!;
    const owner = files(dav.root, 'ac').find((key) =>
      readFileSync(join(dav.root, 'ac', key), 'utf8').includes(victim.name),
    )!;
    expect(owner).toBeDefined();
    const bytes = readFileSync(victim.path);
    bytes[bytes.length >> 1]! ^= 0x40;
    writeFileSync(victim.path, bytes);

    const c = project('machine-c');
    const log = join(dir, 'c.steps.jsonl');
    const r = await build(c, 'cache-c', ['--remote-cache', dav.url], log);
    expect(r.code, r.all).toBe(0);
    const unusable = warnings(r, /unusable/);
    expect(unusable, r.stderr).toHaveLength(1);
    expect(unusable[0]).toMatch(
      new RegExp(
        `^warning: remote cache entry ${owner.slice(0, 12)} at ${dav.url} is unusable \\(its blob ${victim.name.slice(0, 12)} failed verification .*\\); it is treated as a miss and uploaded again once computed$`,
      ),
    );
    expect(started(log).map((l) => l.key)).toEqual([owner]);
    expect(summary(r)).toMatch(
      /^4 steps, 3 cached, 1 run in [\d.]+ s; remote cache: 3 hits, 1 upload, 1 damaged — PASS$/,
    );
    expectSameOutput(a, c);
    expect(sha256(victim.path)).toBe(victim.name);
    expect(stackLines(r.all)).toEqual([]);
  });

  it('with --workers at a Redis that is down, the build warns and runs here with the remote cache', async () => {
    const d = project('machine-d');
    const log = join(dir, 'd.steps.jsonl');
    const port = await freePort();
    const r = await build(d, 'cache-d', ['--workers', `redis://127.0.0.1:${port}`, '--remote-cache', dav.url], log);
    expect(r.code, r.all).toBe(0);
    expect(warnings(r, /Redis/), r.stderr).toEqual([
      expect.stringMatching(
        new RegExp(`^warning: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} .*this build runs here`),
      ),
    ]);
    expect(summary(r)).toMatch(/^4 steps, 4 cached, 0 run in [\d.]+ s; remote cache: 4 hits, 0 uploads — PASS$/);
    expect(stepLog(log)).toEqual([]);
    expectSameOutput(a, d);
    expect(stackLines(r.all)).toEqual([]);
  });
});

describe.skipIf(!hasNginx)('a remote cache that cannot help', () => {
  it('an unreachable server is one warning, and the build succeeds locally with the same verdict', async () => {
    const root = project('outage');
    const port = await freePort();
    const r = await build(root, 'cache-outage', ['--remote-cache', `http://127.0.0.1:${port}`, '--json']);
    expect(r.code, r.all).toBe(0);
    const out = JSON.parse(r.stdout) as { cached: string[]; ran: string[]; verdict: string };
    expect(out).toMatchObject({ ran: STEPS, cached: [], verdict: 'pass' });
    const unreachable = warnings(r, /unreachable/);
    expect(unreachable, r.stderr).toHaveLength(1);
    expect(unreachable[0]).toMatch(
      new RegExp(
        `^mcbuild: warning: remote cache http://127\\.0\\.0\\.1:${port} is unreachable \\(.+\\); going on with the local cache only$`,
      ),
    );
    expect(stackLines(r.all)).toEqual([]);
    expect(JSON.parse(readFileSync(join(root, 'out', 'report.json'), 'utf8')).verdict).toBe('pass');
  });

  describe('--remote-cache-mode read', () => {
    let dav: DavServer;
    beforeAll(async () => {
      dav = await startDav();
    });
    afterAll(() => dav?.stop());

    it('uploads nothing, and the build passes', async () => {
      const r = await build(project('read-only'), 'cache-read', [
        '--remote-cache',
        dav.url,
        '--remote-cache-mode',
        'read',
      ]);
      expect(r.code, r.all).toBe(0);
      expect(summary(r)).toMatch(/^4 steps, 0 cached, 4 run in [\d.]+ s; remote cache: 0 hits, 0 uploads — PASS$/);
      expect(listFiles(dav.root)).toEqual([]);
      expect(r.stderr).not.toMatch(/warning/);
    });
  });
});

describe.skipIf(!hasNginx)('the remote cache in mcbuild.config.yaml', () => {
  let dav: DavServer;
  let root: string;
  beforeAll(async () => {
    dav = await startDav();
    root = project('configured', `remoteCache:\n  url: ${dav.url}\n`);
  });
  afterAll(() => dav?.stop());

  it('is used without any flag: the build uploads', async () => {
    const r = await build(root, 'cache-config');
    expect(r.code, r.all).toBe(0);
    expect(summary(r)).toMatch(/^4 steps, 0 cached, 4 run in [\d.]+ s; remote cache: 0 hits, 4 uploads — PASS$/);
    expect(files(dav.root, 'ac')).toHaveLength(STEPS.length);
  });

  it('--remote-cache-mode off ignores it: a fresh cache computes everything, nothing is downloaded or uploaded', async () => {
    const snapshot = () =>
      listFiles(dav.root)
        .map((f) => `${f} ${statSync(f).ino} ${statSync(f).mtimeMs}`)
        .sort();
    const before = snapshot();
    expect(before.length).toBeGreaterThan(STEPS.length);
    const log = join(dir, 'off.steps.jsonl');
    const r = await build(root, 'cache-config-off', ['--remote-cache-mode', 'off'], log);
    expect(r.code, r.all).toBe(0);
    expect(started(log).map((l) => l.step)).toEqual(STEPS);
    expect(r.all).not.toMatch(/remote cache/);
    expect(summary(r)).toMatch(/^4 steps, 0 cached, 4 run in [\d.]+ s — PASS$/);
    // The action records are PUT again by every upload (new inode and time): nothing was.
    expect(snapshot()).toEqual(before);
  });
});

describe('mistakes are usage errors: exit 2, one paragraph, no stack trace', () => {
  const root = project('mistakes');
  const expectUsage = (r: CliRun, ...patterns: RegExp[]) => {
    expect(r.code, r.all).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^mcbuild: error MCB_USAGE: /);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(stackLines(r.all)).toEqual([]);
    for (const p of patterns) expect(r.stderr).toMatch(p);
  };
  const run = (args: string[], cwd = root) =>
    runCli(['tiny.yaml', '--cache-dir', join(dir, 'cache-mistakes'), ...args], { cwd });

  it('a typo in mcbuild.config.yaml is named at its line and column, with a suggestion', async () => {
    const typo = project('typo', 'remoteCach:\n  url: http://127.0.0.1:1\n');
    expectUsage(
      await run([], typo),
      /mcbuild\.config\.yaml:1:1\b/,
      /the project configuration has an unknown key `remoteCach`/,
      /did you mean `remoteCache`\?/,
    );
  });

  it('an unknown remoteCache.mode in mcbuild.config.yaml is named at its line and column', async () => {
    const bad = project('bad-mode', 'remoteCache:\n  url: http://127.0.0.1:1\n  mode: sometimes\n');
    expectUsage(await run([], bad), /mcbuild\.config\.yaml:3:9\b/, /remoteCache\.mode/, /"sometimes"/, /"readwrite"/);
  });

  it('--remote-cache with a scheme other than http(s)', async () => {
    expectUsage(
      await run(['--remote-cache', 'ftp://x']),
      /--remote-cache "ftp:\/\/x" uses ftp:/,
      /http:\/\/ or https:\/\//,
    );
  });

  it('--remote-cache-mode other than read, readwrite, off', async () => {
    expectUsage(
      await run(['--remote-cache-mode', 'maybe']),
      /--remote-cache-mode must be read, readwrite or off \(got "maybe"\)/,
    );
  });

  it('--workers without a remote cache', async () => {
    expectUsage(
      await run(['--workers', 'redis://127.0.0.1:1']),
      /--workers needs a remote cache in readwrite mode/,
      /Add --remote-cache URL/,
    );
  });

  it('--workers with a read-only remote cache', async () => {
    expectUsage(
      await run([
        '--workers',
        'redis://127.0.0.1:1',
        '--remote-cache',
        'http://127.0.0.1:1',
        '--remote-cache-mode',
        'read',
      ]),
      /--workers needs a remote cache in readwrite mode/,
      /drop --remote-cache-mode read/,
    );
  });

  it('none of them built anything', () => {
    expect(existsSync(join(dir, 'cache-mistakes'))).toBe(false);
    for (const p of ['mistakes', 'typo', 'bad-mode']) expect(existsSync(join(dir, p, 'out')), p).toBe(false);
  });
});
