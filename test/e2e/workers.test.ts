/**
 * Distributed builds against the real servers: redis-server carrying BullMQ's queue and nginx with WebDAV as
 * the remote cache, both started on loopback (bench/servers.ts; .ci/run installs them), with `mcbuild worker`
 * processes and the coordinator run as a user runs them. The step log (MCBUILD_STEP_LOG) counts what was
 * computed, by which process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findCommand,
  freePort,
  startDav,
  startRedis,
  type DavServer,
  type LoopbackServer,
} from '../../bench/servers.js';
import { QueueUnavailable, StepQueue } from '../../src/distributed/coordinator.js';
import { stepJob } from '../../src/distributed/job.js';
import { planBuild } from '../../src/pipeline/index.js';
import { build } from '../../src/build/index.js';
import { RemoteCache } from '../../src/cache/remote.js';
import type { BuildEvent } from '../../src/execute/index.js';
import { BIN, runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

// Both servers come from Debian packages that .ci/run installs; without them there is nothing to test against.
const servers = findCommand('redis-server') !== undefined && findCommand('nginx') !== undefined;

interface LogLine {
  event: 'start' | 'done';
  key: string;
  step: string;
  pid: number;
}

const readLog = (file: string): LogLine[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine)
    : [];
const starts = (file: string) => readLog(file).filter((l) => l.event === 'start');

describe.skipIf(!servers)(
  'distributed builds: a coordinator and `mcbuild worker` processes on Redis and a WebDAV cache',
  () => {
    let redis: LoopbackServer;
    let dav: DavServer;
    const dir = tempDir('mcbuild-workers-');
    const workers: ChildProcess[] = [];
    const workerOutput = new Map<ChildProcess, string>();
    let queueSeq = 0;

    /** A worker process; its step log lines carry its pid. */
    const startWorker = (queue: string, log: string, name: string, extra: string[] = []): ChildProcess => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'worker',
          '--redis',
          redis.url,
          '--remote-cache',
          dav.url,
          '--queue',
          queue,
          '--cache-dir',
          join(dir, `worker-cache-${name}`),
          '--lock-seconds',
          '2',
          ...extra,
        ],
        {
          cwd: dir,
          env: { ...process.env, CI: 'true', NO_COLOR: '1', MCBUILD_STEP_LOG: log },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      workerOutput.set(child, '');
      const keep = (d: Buffer) => workerOutput.set(child, workerOutput.get(child)! + d.toString());
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      workers.push(child);
      return child;
    };
    const stopWorker = async (child: ChildProcess, signal: NodeJS.Signals = 'SIGINT') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // 'close': the process has exited and its output pipes are drained (what the tests read is complete).
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill(signal);
      await closed;
    };
    const newQueue = () => `test-${process.pid}-${++queueSeq}`;
    const coordinate = (
      recipe: string,
      queue: string,
      cache: string,
      out: string,
      extra: string[] = [],
      stepLog?: string,
    ) =>
      runCli(
        [
          recipe,
          '--workers',
          redis.url,
          '--queue',
          queue,
          '--remote-cache',
          dav.url,
          '--cache-dir',
          join(dir, cache),
          '--out',
          out,
          ...extra,
        ],
        { cwd: dir, ...(stepLog ? { env: { MCBUILD_STEP_LOG: stepLog } } : {}) },
      );
    const waitFor = async (what: string, test: () => boolean, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    };
    const sameFiles = (a: string, b: string) => {
      const names = readdirSync(a).filter((n) => n !== 'run.json' && n !== 'report.html');
      expect(names.sort()).toEqual(
        readdirSync(b)
          .filter((n) => n !== 'run.json' && n !== 'report.html')
          .sort(),
      );
      for (const n of names) expect(readFileSync(join(a, n)).equals(readFileSync(join(b, n))), `${a}/${n}`).toBe(true);
    };

    const sweep = writeText(
      join(dir, 'sweep.yaml'),
      tinyRecipe({
        passes: '  - prune: { sparsity: "${{ matrix.sparsity }}" }\n  - quantize: { dtype: uint8 }',
        thresholds: '  accuracy: { maxDrop: 0.5 }',
        output: './out/unused',
        extra: 'matrix:\n  sparsity: [0.5, 0.75, 0.9]\ngate: best\n',
      }),
    );
    writeFileSync(join(dir, 'package.json'), '{}');
    const variants = ['sparsity-0.5', 'sparsity-0.75', 'sparsity-0.9'];
    let local: CliRun;
    const localLog = join(dir, 'local-steps.jsonl');

    beforeAll(async () => {
      [redis, dav] = await Promise.all([startRedis(), startDav()]);
      // The reference: the same sweep built by one local process.
      local = await runCli([sweep, '--cache-dir', join(dir, 'local-cache'), '--out', 'out/local'], {
        cwd: dir,
        env: { MCBUILD_STEP_LOG: localLog },
      });
      expect(local.code, local.all).toBe(0);
    }, 300_000);

    afterAll(async () => {
      await Promise.all(workers.map((w) => stopWorker(w, 'SIGKILL')));
      await Promise.all([redis?.stop(), dav?.stop()]);
    });

    it('a sweep built by two workers: same report and byte-identical outputs, each step key computed exactly once', async () => {
      const queue = newQueue();
      const log = join(dir, 'sweep-steps.jsonl');
      const a = startWorker(queue, log, 'a');
      // On 2 cores, b takes two jobs at once and computes them in a step pool (src/execute/pool.ts).
      const b = startWorker(queue, log, 'b', ['--threads', '2']);
      const r = await coordinate(sweep, queue, 'coordinator-cache', 'out/distributed', ['--json']);
      expect(r.code, r.all + workerOutput.get(a)! + workerOutput.get(b)!).toBe(0);
      expect(stackLines(r.all)).toEqual([]);
      sameFiles(join(dir, 'out/local', variants[0]!), join(dir, 'out/distributed', variants[0]!));
      for (const v of variants) sameFiles(join(dir, 'out/local', v), join(dir, 'out/distributed', v));
      expect(
        readFileSync(join(dir, 'out/distributed/sweep.json')).equals(readFileSync(join(dir, 'out/local/sweep.json'))),
      ).toBe(true);

      // Exactly the keys the local build computed, each once, spread over both workers; the coordinator computed nothing.
      const computed = starts(log);
      const keys = computed.map((l) => l.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(new Set(keys)).toEqual(new Set(starts(localLog).map((l) => l.key)));
      expect(new Set(computed.map((l) => l.pid))).toEqual(new Set([a.pid, b.pid]));
      expect(readLog(log).filter((l) => l.event === 'done').length).toBe(keys.length);
      // The report counts each step once: the baseline the three variants share ran for one of them.
      const json = JSON.parse(r.stdout) as { builds: { ran: string[]; cached: string[] }[] };
      expect(json.builds.reduce((n, b) => n + b.ran.length, 0)).toBe(keys.length);

      // A second machine (fresh local cache, no workers needed): every step is a remote hit, nothing is computed.
      await Promise.all([stopWorker(a), stopWorker(b)]);
      const second = await runCli(
        [
          sweep,
          '--remote-cache',
          dav.url,
          '--cache-dir',
          join(dir, 'second-machine-cache'),
          '--out',
          'out/second',
          '--json',
        ],
        { cwd: dir, env: { MCBUILD_STEP_LOG: log } },
      );
      expect(second.code, second.all).toBe(0);
      expect(starts(log).length).toBe(keys.length);
      const secondJson = JSON.parse(second.stdout) as { builds: { ran: string[]; cached: string[] }[] };
      expect(secondJson.builds.every((b) => b.ran.length === 0 && b.cached.length > 0)).toBe(true);
      for (const v of variants) sameFiles(join(dir, 'out/local', v), join(dir, 'out/second', v));
    }, 300_000);

    it('a worker killed mid-step: its job goes to another worker and the build completes', async () => {
      const queue = newQueue();
      const log = join(dir, 'kill-steps.jsonl');
      // New keys (another seed) and a training step long enough to be killed in.
      const recipe = writeText(
        join(dir, 'slow.yaml'),
        tinyRecipe({ output: './out/unused' })
          .replace('limit: 800', 'limit: 4000')
          .replace('epochs: 2', 'epochs: 3')
          .replace('seed: 7', 'seed: 11'),
      );
      const victim = startWorker(queue, log, 'victim');
      const build = coordinate(recipe, queue, 'kill-cache', 'out/killed');
      await waitFor('the victim to start training', () =>
        starts(log).some((l) => l.pid === victim.pid && l.step === 'baseline'),
      );
      await sleep(300);
      await stopWorker(victim, 'SIGKILL');
      const rescuer = startWorker(queue, log, 'rescuer');
      const r = await build;
      expect(r.code, r.all + workerOutput.get(rescuer)!).toBe(0);
      const trained = readLog(log).filter((l) => l.step === 'baseline');
      // Started by the victim, never finished there; started again and finished by the rescuer.
      expect(trained.filter((l) => l.pid === victim.pid).map((l) => l.event)).toEqual(['start']);
      expect(trained.filter((l) => l.pid === rescuer.pid).map((l) => l.event)).toEqual(['start', 'done']);
      // The coordinator showed the step as usual, naming the worker that ran it.
      expect(r.all).toMatch(new RegExp(`\\[run\\] +baseline: .*on worker [^/]+/${rescuer.pid}`));
      // The same model a local build trains.
      const again = await runCli([recipe, '--cache-dir', join(dir, 'kill-local-cache'), '--out', 'out/kill-local'], {
        cwd: dir,
      });
      expect(again.code, again.all).toBe(0);
      sameFiles(join(dir, 'out/killed'), join(dir, 'out/kill-local'));
      await stopWorker(rescuer);
    }, 300_000);

    it('a coordinator killed mid-build: the worker finishes its job, and the next build uses it', async () => {
      const queue = newQueue();
      const log = join(dir, 'coordinator-steps.jsonl');
      const recipe = writeText(
        join(dir, 'orphan.yaml'),
        tinyRecipe({ output: './out/unused' }).replace('limit: 800', 'limit: 3000').replace('seed: 7', 'seed: 13'),
      );
      const worker = startWorker(queue, log, 'orphans');
      const coordinator = spawn(
        process.execPath,
        [
          BIN,
          recipe,
          '--workers',
          redis.url,
          '--queue',
          queue,
          '--remote-cache',
          dav.url,
          '--cache-dir',
          join(dir, 'orphan-cache'),
          '--out',
          'out/orphan',
        ],
        {
          cwd: dir,
          env: { ...process.env, CI: 'true' },
          stdio: 'ignore',
        },
      );
      await waitFor('the worker to start training', () => starts(log).some((l) => l.step === 'baseline'));
      coordinator.kill('SIGKILL');
      await waitFor('the orphaned job to finish', () =>
        readLog(log).some((l) => l.step === 'baseline' && l.event === 'done'),
      );
      const r = await coordinate(recipe, queue, 'orphan-cache', 'out/orphan');
      expect(r.code, r.all).toBe(0);
      expect(r.all).toMatch(/\[cached\] baseline: .*downloaded from the remote cache/);
      const keys = starts(log).map((l) => l.key);
      expect(new Set(keys).size).toBe(keys.length);
      await stopWorker(worker);
    }, 300_000);

    it("a worker's progress reaches the build's events, as a local step's does", async () => {
      const queue = newQueue();
      const log = join(dir, 'progress-steps.jsonl');
      const recipe = writeText(
        join(dir, 'progress.yaml'),
        tinyRecipe({ output: './out/unused' }).replace('limit: 800', 'limit: 3000').replace('seed: 7', 'seed: 31'),
      );
      const worker = startWorker(queue, log, 'reporter');
      const workersQueue = await StepQueue.connect({ url: new URL(redis.url), queue });
      const events: BuildEvent[] = [];
      try {
        const result = await build(recipe, {
          cacheDir: join(dir, 'progress-cache'),
          output: join(dir, 'out/progress'),
          workers: workersQueue,
          remote: new RemoteCache({ url: dav.url }),
          onEvent: (e) => events.push(e),
        });
        expect(result.exitCode).toBe(0);
      } finally {
        await workersQueue.close();
      }
      const of = (id: string) => events.filter((e) => 'step' in e && e.step.id === id);
      const started = of('baseline').find((e) => e.type === 'step-start');
      expect(started && 'reason' in started ? started.reason : '').toMatch(
        new RegExp(`on worker [^/]+/${worker.pid}$`),
      );
      const progress = of('baseline').filter((e) => e.type === 'step-progress' && e.fraction !== undefined);
      expect(progress.length).toBeGreaterThan(0);
      for (const p of progress)
        expect(p.type === 'step-progress' && p.message).toMatch(/^epoch \d\/2 batch \d+\/\d+ loss /);
      expect(
        of('baseline')
          .map((e) => e.type)
          .at(-1),
      ).toBe('step-done');
      // The build computed nothing itself and never loaded TF.js.
      expect(events.some((e) => e.type === 'engine')).toBe(false);
      await stopWorker(worker);
    }, 120_000);

    it('a job a worker refuses (another version, a load step) fails at once, without retries, for the build to compute itself', async () => {
      const queue = newQueue();
      const log = join(dir, 'refused-steps.jsonl');
      const worker = startWorker(queue, log, 'refuser');
      const { plan } = await planBuild(sweep, { variant: 'sparsity=0.5', cacheDir: join(dir, 'unused-cache') });
      const step = plan.steps.find((s) => s.spec.kind === 'eval')!;
      const job = stepJob(step, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key);
      job.mcbuild = '0.0.1'; // as queued by another release
      const q = await StepQueue.connect({ url: new URL(redis.url), queue });
      try {
        const error = await q
          .run(job, { signal: new AbortController().signal, onActive: () => {}, onProgress: () => {} })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        // Not the build's fault: the build is told to compute the step itself (src/execute/execute.ts).
        expect(error).toBeInstanceOf(QueueUnavailable);
        expect((error as Error).message).toMatch(
          /failed on a worker: .*planned by mcbuild 0\.0\.1 but this worker runs/,
        );
        // A job naming a file to load (as a queue writer could send) is refused: workers read no user paths.
        const load = stepJob(
          { ...step, spec: { kind: 'load', path: '/etc/passwd' } },
          plan.backend,
          (id) => plan.steps.find((s) => s.id === id)!.key,
        );
        const refused = await q
          .run(load, { signal: new AbortController().signal, onActive: () => {}, onProgress: () => {} })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect((refused as Error).message).toMatch(
          /load steps read the user's model files and run on the build's own machine/,
        );
      } finally {
        await q.close();
      }
      expect(starts(log)).toEqual([]);
      // Counted once the worker has exited: its log line may reach us after the build saw the failure.
      await stopWorker(worker);
      expect(workerOutput.get(worker)!.match(/failed: /g)?.length).toBe(2);
      expect(worker.exitCode).toBe(0);
      expect(workerOutput.get(worker)).toMatch(/stopped after 0 jobs \(2 failed\)/);
    }, 120_000);

    it("a recipe loading the user's model files: the load step runs on the coordinator, the workers do the rest", async () => {
      const queue = newQueue();
      const log = join(dir, 'load-steps.jsonl');
      // A float model of the user's own, as a folder of TF.js files.
      const made = await runCli(
        [
          writeText(
            join(dir, 'make-model.yaml'),
            tinyRecipe({ passes: '  - prune: { sparsity: 0.25 }', output: './models/user' }).replace(
              'seed: 7',
              'seed: 19',
            ),
          ),
          '--cache-dir',
          join(dir, 'make-cache'),
        ],
        { cwd: dir },
      );
      expect(made.code, made.all).toBe(0);
      const recipe = writeText(
        join(dir, 'from-files.yaml'),
        tinyRecipe({ model: '  path: ./models/user/model.json', output: './out/unused' }),
      );
      const worker = startWorker(queue, log, 'loader');
      const r = await coordinate(recipe, queue, 'load-cache', 'out/from-files', [], log);
      expect(r.code, r.all + workerOutput.get(worker)!).toBe(0);
      const computed = starts(log);
      expect(computed.filter((l) => l.pid !== worker.pid).map((l) => l.step)).toEqual(['baseline']);
      expect(
        computed
          .filter((l) => l.pid === worker.pid)
          .map((l) => l.step)
          .sort(),
      ).toEqual(['eval-baseline', 'eval-result', 'pass-1-quantize']);
      const here = await runCli(
        [recipe, '--cache-dir', join(dir, 'load-local-cache'), '--out', 'out/from-files-local'],
        { cwd: dir },
      );
      expect(here.code, here.all).toBe(0);
      sameFiles(join(dir, 'out/from-files'), join(dir, 'out/from-files-local'));
      await stopWorker(worker);
    }, 120_000);

    it('workers that cannot deliver (their cache server is down): the build computes the step here and passes', async () => {
      const queue = newQueue();
      const log = join(dir, 'undelivered-steps.jsonl');
      const recipe = writeText(
        join(dir, 'undelivered.yaml'),
        tinyRecipe({ output: './out/unused' }).replace('seed: 7', 'seed: 17'),
      );
      const closed = await freePort();
      const worker = startWorker(queue, log, 'cut-off', ['--remote-cache', `http://127.0.0.1:${closed}`]);
      const r = await coordinate(recipe, queue, 'undelivered-cache', 'out/undelivered');
      expect(r.code, r.all + workerOutput.get(worker)!).toBe(0);
      expect(r.all).toMatch(/failed on the workers after 3 attempts .*the rest of this build runs here/);
      expect(stackLines(r.all)).toEqual([]);
      expect(starts(log)).toEqual([]);
      await stopWorker(worker);
    }, 120_000);

    it('a worker stopped while Redis is down exits instead of waiting for it', async () => {
      const own = await startRedis();
      const child = spawn(
        process.execPath,
        [
          BIN,
          'worker',
          '--redis',
          own.url,
          '--remote-cache',
          dav.url,
          '--cache-dir',
          join(dir, 'worker-cache-orphaned'),
        ],
        { cwd: dir, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      workers.push(child);
      await waitFor('the worker to connect', () => err.includes('taking jobs'));
      await own.stop();
      await waitFor('the worker to notice', () => err.includes('Redis unreachable'));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // Said once, not at every reconnect attempt.
      expect(err.match(/Redis unreachable/g)?.length).toBe(1);
    }, 60_000);

    it('no worker connected: after --worker-wait seconds the build computes the waiting steps itself', async () => {
      const recipe = writeText(
        join(dir, 'unattended.yaml'),
        tinyRecipe({ output: './out/unused' }).replace('seed: 7', 'seed: 37'),
      );
      const r = await coordinate(recipe, newQueue(), 'unattended-cache', 'out/unattended', ['--worker-wait', '3']);
      expect(r.code, r.all).toBe(0);
      expect(r.all).toMatch(/warning: no worker is connected to queue "test-[^"]+" at redis:/);
      expect(r.all).toMatch(
        /warning: no worker has been connected to queue .* for 3 s; the rest of this build runs here/,
      );
      expect(stackLines(r.all)).toEqual([]);
    }, 60_000);

    it('workers named in mcbuild.config.yaml: a read-only build, or --workers off, builds here', async () => {
      const project = join(dir, 'configured');
      writeText(join(project, 'package.json'), '{}');
      writeText(
        join(project, 'mcbuild.config.yaml'),
        `remoteCache:\n  url: ${dav.url}\nworkers:\n  redis: redis://127.0.0.1:1\n`,
      );
      const recipe = writeText(join(project, 'r.yaml'), tinyRecipe({ output: './out' }).replace('seed: 7', 'seed: 41'));
      const readOnly = await runCli([recipe, '--remote-cache-mode', 'read', '--cache-dir', join(project, 'c1')], {
        cwd: project,
      });
      expect(readOnly.code, readOnly.all).toBe(0);
      expect(readOnly.all).toMatch(
        /warning: workers\.redis in .*mcbuild\.config\.yaml is ignored: workers deliver through the remote cache, which this build only reads; building here/,
      );
      const off = await runCli([recipe, '--workers', 'off', '--cache-dir', join(project, 'c2'), '--out', 'out2'], {
        cwd: project,
      });
      expect(off.code, off.all).toBe(0);
      expect(off.all).not.toMatch(/Redis|worker/);
    }, 60_000);

    it('worker usage errors are one paragraph with exit 2', async () => {
      const noRedis = await runCli(['worker', '--remote-cache', dav.url], { cwd: dir });
      expect(noRedis.code).toBe(2);
      expect(noRedis.stderr).toMatch(/needs the Redis server/);
      const noRemote = await runCli(['worker', '--redis', redis.url], { cwd: dir });
      expect(noRemote.code).toBe(2);
      expect(noRemote.stderr).toMatch(/needs a remote cache/);
      const readOnly = await runCli(
        ['worker', '--redis', redis.url, '--remote-cache', dav.url, '--remote-cache-mode', 'read'],
        { cwd: dir },
      );
      expect(readOnly.code).toBe(2);
      const down = await runCli(['worker', '--redis', 'redis://127.0.0.1:1', '--remote-cache', dav.url], { cwd: dir });
      expect(down.code).toBe(2);
      expect(down.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
      const threads = await runCli(['worker', '--redis', redis.url, '--remote-cache', dav.url, '--threads', '9'], {
        cwd: dir,
      });
      expect(threads.code).toBe(2);
      expect(threads.stderr).toMatch(/--threads must be a whole number from 1 to 8 \(got "9"\)/);
      for (const r of [noRedis, noRemote, readOnly, down, threads]) expect(stackLines(r.all)).toEqual([]);
    }, 60_000);
  },
);
