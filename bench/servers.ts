/**
 * Real servers on loopback for the distributed tests and the benchmark: redis-server (BullMQ's queue) and
 * nginx serving a folder over WebDAV (the remote cache's /ac and /cas). Both are the Debian packages .ci/run
 * installs; each instance gets a free port, its own folder under the OS temp dir, and is stopped by stop().
 * Shared by test/ and bench/ (the build compiles bench/, not test/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoopbackServer {
  url: string;
  port: number;
  /** The server's own folder (nginx: the WebDAV root is `root`). */
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface DavServer extends LoopbackServer {
  /** Where the cache's files land: `${root}/ac/<key>`, `${root}/cas/<sha256>`. */
  root: string;
}

/** Whether a command is on the PATH (and which path), so tests can skip with a reason when it is not. */
export function findCommand(name: string): string | undefined {
  for (const candidate of [name, `/usr/sbin/${name}`, `/usr/bin/${name}`]) {
    const r = spawnSync(candidate, ['-v'], { stdio: 'ignore' });
    if (r.error === undefined) return candidate;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, what: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within 15 s: ${log()}`);
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** redis-server on a free loopback port, in memory only (no RDB or AOF files). */
export async function startRedis(opts: { port?: number } = {}): Promise<LoopbackServer> {
  const bin = findCommand('redis-server');
  if (!bin) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'mcb-redis-'));
  const port = opts.port ?? (await freePort());
  let log = '';
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d) => (log = (log + String(d)).slice(-4000)));
  child.stderr.on('data', (d) => (log = (log + String(d)).slice(-4000)));
  await waitForPort(port, child, 'redis-server', () => log);
  return { url: `redis://127.0.0.1:${port}`, port, dir, process: child, stop: stopper(child, dir) };
}

/**
 * nginx (Debian's nginx-light has the WebDAV module) serving `root` read-write: GET/HEAD as static files,
 * PUT creating folders on the way, like a Bazel HTTP cache. No master process, no daemon: the child is nginx.
 */
export async function startDav(opts: { port?: number; root?: string } = {}): Promise<DavServer> {
  const bin = findCommand('nginx');
  if (!bin) throw new Error('nginx is not installed (apt-get install nginx-light)');
  const dir = mkdtempSync(join(tmpdir(), 'mcb-dav-'));
  const root = opts.root ?? join(dir, 'root');
  mkdirSync(root, { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    client_max_body_size 0;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`,
  );
  let log = '';
  const child = spawn(bin, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (log = (log + String(d)).slice(-4000)));
  child.stderr.on('data', (d) => (log = (log + String(d)).slice(-4000)));
  await waitForPort(port, child, 'nginx', () => log);
  // A caller's own `root` outlives the server (it is outside `dir`, which stop() removes).
  return { url: `http://127.0.0.1:${port}`, port, dir, root, process: child, stop: stopper(child, dir) };
}
