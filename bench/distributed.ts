/**
 * Scale-out, side by side in one run, on real servers on loopback (bench/servers.ts: redis-server, nginx WebDAV):
 *   (a) a 12-variant sweep (prune → finetune → quantize of an MLP trained on MNIST), cold, built by one local
 *       process vs by a coordinator (`--workers` + `--remote-cache`) with two `mcbuild worker` processes:
 *       wall time, speed-up, and variants per CPU-second (user + sys of every mcbuild process involved);
 *       two rounds of each in the order local, distributed, distributed, local (means), every one cold;
 *   (b) the same sweep again, all hits: from the remote cache into an empty local cache vs from the local
 *       run's warm cache (interleaved rounds, medians);
 * and checks that the distributed outputs are byte-identical to the local ones and that the workers computed
 * every step key exactly once (MCBUILD_STEP_LOG).
 *
 * The sweep's second axis is the finetune's learning rate, so that every variant has its own finetune (with a
 * quantization-width axis, the variants that differ only in width share their prune and finetune, and the
 * work per variant is a quantize and an eval of a fraction of a second).
 * CPU time: one-shot builds run under GNU time (/usr/bin/time); the long-lived workers are read from
 * /proc/<pid>/stat when they are ready and after the build (their start-up is counted apart).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startDav, startRedis, type DavServer, type LoopbackServer } from './servers.js';

const BIN = fileURLToPath(new URL('../../bin/mcbuild.js', import.meta.url));
const TIME = '/usr/bin/time';
const ROUNDS = 3;

const SPARSITY = [0.5, 0.7, 0.8, 0.9];
const LEARNING_RATE = [0.0001, 0.0003, 0.001];
export const VARIANTS = SPARSITY.length * LEARNING_RATE.length;

export const RECIPE = `version: 1
name: dist-bench
model:
  train:
    architecture: mlp
    options: { hidden: [256, 128] }
    dataset: mnist
    limit: 4000
    epochs: 2
    batchSize: 64
    seed: 1
data:
  train: { dataset: mnist, split: train, limit: 4000 }
  eval: { dataset: mnist, split: test }
matrix:
  sparsity: [${SPARSITY.join(', ')}]
  lr: [${LEARNING_RATE.join(', ')}]
gate: best
passes:
  - prune: { sparsity: "\${{ matrix.sparsity }}", scope: global }
  - finetune: { epochs: 1, learningRate: "\${{ matrix.lr }}" }
  - quantize: { bits: 8 }
thresholds:
  accuracy: { maxDrop: 0.5 }
output: ./out
`;

export interface Run {
  code: number | null;
  wall: number;
  /** user + sys seconds (GNU time), or NaN without /usr/bin/time. */
  cpu: number;
  output: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** user + sys seconds a live process has used so far (all its threads), from /proc/<pid>/stat. */
function procCpu(pid: number | undefined, ticks: number): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks; // utime, stime: fields 14 and 15 of the line
  } catch {
    return NaN;
  }
}

/** Plain line output; the step log only where asked for (the workers'). */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { MCBUILD_STEP_LOG: _, ...rest } = process.env;
  return { ...rest, CI: 'true', NO_COLOR: '1', ...extra };
}

/** A build that takes longer than this is reported as hung (and killed). */
const HANG_SECONDS = Number(process.env.MCB_BENCH_HANG_SECONDS ?? 600);

/**
 * One mcbuild process to completion, under GNU time when it is there; its output also goes to `logFile`.
 * After HANG_SECONDS it is killed and the build fails, with `diagnose()`'s words (the queue's state).
 */
export function runCli(
  args: string[],
  cwd: string,
  timeFile: string,
  logFile: string,
  diagnose?: () => Promise<string>,
): Promise<Run> {
  const timed = existsSync(TIME);
  const [cmd, argv] = timed
    ? [TIME, ['-f', '%U %S', '-o', timeFile, process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // detached: its own process group, so that a hung build (GNU time and mcbuild below it) can be killed whole.
    const child = spawn(cmd, argv, { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const take = (d: Buffer) => {
      output += d.toString();
      appendFileSync(logFile, d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    const hang = setTimeout(() => {
      void (async () => {
        const state = diagnose ? await diagnose().catch((e: unknown) => `(queue state unknown: ${String(e)})`) : '';
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        reject(
          new Error(
            `mcbuild ${args.join(' ')} did not finish within ${HANG_SECONDS} s${state ? `; ${state}` : ''}; its last lines:\n${output.split('\n').slice(-25).join('\n')}`,
          ),
        );
      })();
    }, HANG_SECONDS * 1000);
    child.on('close', (code) => {
      clearTimeout(hang);
      const wall = (performance.now() - started) / 1000;
      let cpu = NaN;
      if (timed && existsSync(timeFile)) {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '';
        const [user, sys] = last.split(' ').map(Number);
        if (Number.isFinite(user) && Number.isFinite(sys)) cpu = user! + sys!;
      }
      resolve({ code, wall, cpu, output });
    });
  });
}

/** What the queue holds, for a build that hangs. */
async function queueState(redisUrl: string, name: string): Promise<string> {
  const { Queue } = await import('bullmq');
  const url = new URL(redisUrl);
  const queue = new Queue(name, {
    connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null },
  });
  try {
    const counts = await queue.getJobCounts();
    const workers = await queue.getWorkers();
    const active = await queue.getActive();
    return `queue "${name}": ${JSON.stringify(counts)}, ${workers.length} workers connected, active: ${active.map((j) => `${j.name} ${String(j.id).slice(0, 12)}`).join(', ') || 'none'}`;
  } finally {
    await queue.close();
  }
}

export function checkRun(what: string, run: Run): void {
  if (run.code !== 0)
    throw new Error(`${what} exited with ${run.code}:\n${run.output.split('\n').slice(-30).join('\n')}`);
}

interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
}

/** `mcbuild worker`, resolved once it takes jobs; its output also goes to `logFile`. */
async function startWorker(args: string[], cwd: string, stepLog: string, logFile: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], {
    cwd,
    env: env({ MCBUILD_STEP_LOG: stepLog }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const take = (d: Buffer) => {
    output += d.toString();
    appendFileSync(logFile, d);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const deadline = Date.now() + 30_000;
  while (!output.includes('taking jobs from queue')) {
    if (child.exitCode !== null) throw new Error(`mcbuild worker exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`mcbuild worker did not start within 30 s:\n${output}`);
    await sleep(50);
  }
  return { child, output: () => output };
}

/** SIGINT (finish the jobs in hand, exit), then SIGKILL after 15 s. Resolves with how it ended. */
async function stopWorker(w: WorkerProcess): Promise<string> {
  const { child } = w;
  if (child.exitCode !== null || child.signalCode !== null) return `had exited (${child.exitCode ?? child.signalCode})`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode !== null || child.signalCode !== null) return `exit ${child.exitCode ?? child.signalCode}`;
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(5_000)]);
  return 'killed (did not exit within 15 s of SIGINT)';
}

/** Relative paths of the files that define a variant's result, per variant folder. */
function resultFiles(outDir: string): string[] {
  const files: string[] = [];
  for (const variant of readdirSync(outDir, { withFileTypes: true })) {
    if (!variant.isDirectory()) continue;
    for (const f of readdirSync(join(outDir, variant.name))) {
      if (f === 'model.json' || f === 'report.json' || f.endsWith('.bin')) files.push(join(variant.name, f));
    }
  }
  return files.sort();
}

/** Compares the result files of two output folders: [identical, total, what differs]. */
export function compareOutputs(a: string, b: string): { same: number; total: number; differing: string[] } {
  const files = resultFiles(a);
  const differing: string[] = [];
  for (const f of files) {
    const other = join(b, f);
    if (!existsSync(other) || !readFileSync(join(a, f)).equals(readFileSync(other))) differing.push(f);
  }
  for (const f of resultFiles(b)) if (!files.includes(f)) differing.push(`${f} (only in the distributed output)`);
  return { same: files.length - differing.filter((f) => files.includes(f)).length, total: files.length, differing };
}

/** Every step key of the sweep, from the variants' report.json. */
function planKeys(outDir: string): Set<string> {
  const keys = new Set<string>();
  for (const f of resultFiles(outDir).filter((f) => f.endsWith('report.json'))) {
    const report = JSON.parse(readFileSync(join(outDir, f), 'utf8')) as { steps: { key: string }[] };
    for (const step of report.steps) keys.add(step.key);
  }
  return keys;
}

interface DistRun {
  run: Run;
  /** coordinator + workers during the build */
  cpu: number;
  coordinatorCpu: number;
  workerCpu: number[];
  workerStartCpu: number;
  serverCpu: [number, number];
  stopped: string[];
  workerNotes: string[];
  stepLog: string;
  out: string;
}

export async function benchDistributed(log: (line: string) => void): Promise<void> {
  const cores = availableParallelism();
  const ticks = clockTicks();
  log(
    `\n8. scale-out: a ${VARIANTS}-variant sweep (mlp 256-128 on MNIST; prune → finetune 1 epoch on 4,000 digits → quantize uint8, sparsity × finetune learning rate), cold`,
  );
  log(
    `   machine: ${cores} cores, load average ${loadavg()[0]!.toFixed(1)} at the start; 2 workers + the coordinator share the cores, so the speed-up is at most ${Math.min(2, cores)}x here`,
  );
  log(
    `   rounds in the order local, distributed, distributed, local (each cold: fresh caches, fresh nginx root, fresh queue)`,
  );
  if (!existsSync(TIME)) log(`   (${TIME} is missing: CPU seconds of one-shot builds are not measured)`);

  const work = mkdtempSync(join(tmpdir(), 'mcb-bench-dist-'));
  writeFileSync(join(work, 'package.json'), `${JSON.stringify({ name: 'mcb-bench-dist', private: true })}\n`);
  writeFileSync(join(work, 'recipe.yaml'), RECIPE);
  let redis: LoopbackServer | undefined;
  const davs: DavServer[] = [];
  const workers: WorkerProcess[] = [];
  const timeFile = (name: string) => join(work, `${name}.time`);
  const build = (name: string, extra: string[], diagnose?: () => Promise<string>) =>
    runCli(
      ['recipe.yaml', '--cache-dir', join(work, `cache-${name}`), '--out', join(work, `out-${name}`), ...extra],
      work,
      timeFile(name),
      join(work, `${name}.log`),
      diagnose,
    );
  const perCpu = (cpu: number) => VARIANTS / cpu;

  const localRound = async (name: string): Promise<Run> => {
    // One step at a time, as the workers compute theirs (section 13 compares it with steps side by side).
    const run = await build(name, ['--jobs', '1']);
    checkRun('the local build', run);
    log(
      `   one local process        wall ${s(run.wall).padStart(6)} s   CPU ${s(run.cpu).padStart(6)} s (${s(run.cpu / run.wall, 2)} cores busy)   ${s(perCpu(run.cpu), 3)} variants/CPU-s`,
    );
    return run;
  };

  const distRound = async (name: string): Promise<DistRun> => {
    const dav = await startDav();
    davs.push(dav);
    const queue = `bench-${process.pid}-${name}`;
    const stepLog = join(work, `steps-${name}.jsonl`);
    const mine: WorkerProcess[] = [];
    for (const i of [1, 2]) {
      const w = await startWorker(
        [
          '--redis',
          redis!.url,
          '--remote-cache',
          dav.url,
          '--queue',
          queue,
          '--cache-dir',
          join(work, `cache-${name}-worker${i}`),
        ],
        work,
        stepLog,
        join(work, `${name}-worker${i}.log`),
      );
      workers.push(w);
      mine.push(w);
    }
    const servers = [redis!.process.pid, dav.process.pid];
    const workersReady = mine.map((w) => procCpu(w.child.pid, ticks));
    const serversBefore = servers.map((pid) => procCpu(pid, ticks));
    const run = await build(name, ['--workers', redis!.url, '--queue', queue, '--remote-cache', dav.url], () =>
      queueState(redis!.url, queue),
    );
    const workersAfter = mine.map((w) => procCpu(w.child.pid, ticks));
    const serversAfter = servers.map((pid) => procCpu(pid, ticks));
    const workerNotes = mine.flatMap((w, i) =>
      w
        .output()
        .split('\n')
        .filter((l) => /warning|failed|error/i.test(l))
        .map((l) => `worker ${i + 1}: ${l}`),
    );
    const stopped: string[] = [];
    for (const w of mine) stopped.push(await stopWorker(w));
    checkRun('the distributed build', run);
    const workerCpu = workersAfter.map((after, i) => after - workersReady[i]!);
    const d: DistRun = {
      run,
      cpu: run.cpu + workerCpu.reduce((a, b) => a + b, 0),
      coordinatorCpu: run.cpu,
      workerCpu,
      workerStartCpu: workersReady.reduce((a, b) => a + b, 0),
      serverCpu: [serversAfter[0]! - serversBefore[0]!, serversAfter[1]! - serversBefore[1]!],
      stopped,
      workerNotes,
      stepLog,
      out: join(work, `out-${name}`),
    };
    log(
      `   coordinator + 2 workers  wall ${s(run.wall).padStart(6)} s   CPU ${s(d.cpu).padStart(6)} s (${s(d.cpu / run.wall, 2)} cores busy)   ${s(perCpu(d.cpu), 3)} variants/CPU-s`,
    );
    log(
      `      CPU: coordinator ${s(d.coordinatorCpu)} s + workers ${workerCpu.map((c) => s(c)).join(' s + ')} s; not counted: the workers' start-up ${s(d.workerStartCpu)} s, ` +
        `redis ${s(d.serverCpu[0], 2)} s, nginx ${s(d.serverCpu[1], 2)} s; workers stopped: ${stopped.join(', ')}`,
    );
    return d;
  };

  try {
    redis = await startRedis();

    // (a) cold, ABBA so that a machine getting busier or quieter hits both alike.
    const locals: Run[] = [];
    const dists: DistRun[] = [];
    locals.push(await localRound('local0'));
    dists.push(await distRound('dist0'));
    dists.push(await distRound('dist1'));
    locals.push(await localRound('local1'));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const localWall = mean(locals.map((r) => r.wall));
    const distWall = mean(dists.map((r) => r.run.wall));
    const localCpu = mean(locals.map((r) => r.cpu));
    const distCpu = mean(dists.map((r) => r.cpu));
    log(
      `   mean of 2 each: wall local ${s(localWall)} s, distributed ${s(distWall)} s → speed-up ${s(localWall / distWall, 2)}x (on ${cores} cores)`,
    );
    log(
      `                   variants/CPU-s local ${s(perCpu(localCpu), 3)}, distributed ${s(perCpu(distCpu), 3)} → distributed/local ${s(localCpu / distCpu, 2)}x`,
    );

    // (b) all hits: from the last distributed round's remote cache into an empty local cache vs the first
    // local round's warm cache, interleaved.
    const dav = davs.at(-1)!;
    const remoteHit: number[] = [];
    const localHit: number[] = [];
    let remoteSummary = '';
    let localSummary = '';
    for (let r = 0; r < ROUNDS; r++) {
      for (const which of r % 2 ? ['local', 'remote'] : ['remote', 'local']) {
        if (which === 'remote') {
          const run = await runCli(
            [
              'recipe.yaml',
              '--cache-dir',
              join(work, `cache-remote-hit${r}`),
              '--out',
              join(work, `out-remote-hit${r}`),
              '--remote-cache',
              dav.url,
            ],
            work,
            timeFile(`remote-hit${r}`),
            join(work, `remote-hit${r}.log`),
          );
          checkRun('the remote-hit build', run);
          remoteHit.push(run.wall);
          remoteSummary ||= summaryLine(run.output);
        } else {
          const run = await runCli(
            ['recipe.yaml', '--cache-dir', join(work, 'cache-local0'), '--out', join(work, `out-local-hit${r}`)],
            work,
            timeFile(`local-hit${r}`),
            join(work, `local-hit${r}.log`),
          );
          checkRun('the local-hit build', run);
          localHit.push(run.wall);
          localSummary ||= summaryLine(run.output);
        }
      }
    }
    const rh = median(remoteHit);
    const lh = median(localHit);
    log(
      `   all hits, median wall of ${ROUNDS} interleaved rounds: remote cache ${s(rh, 2)} s   local cache ${s(lh, 2)} s   ratio remote/local ${s(rh / lh, 2)}x`,
    );
    log(`      remote-hit build said: ${remoteSummary}`);
    log(`      local-hit build said:  ${localSummary}`);

    // Checks: same bytes, each key computed once.
    const reference = join(work, 'out-local0');
    const keys = planKeys(reference);
    for (const [i, d] of dists.entries()) {
      const cmp = compareOutputs(reference, d.out);
      log(
        `   distributed round ${i + 1} vs local: ${cmp.same}/${cmp.total} result files (model.json, weights .bin, report.json per variant) byte-identical${cmp.differing.length ? `; DIFFERENT: ${cmp.differing.slice(0, 6).join(', ')}${cmp.differing.length > 6 ? ', …' : ''}` : ''}`,
      );
      const lines = existsSync(d.stepLog) ? readFileSync(d.stepLog, 'utf8').trim().split('\n').filter(Boolean) : [];
      const starts = lines
        .map((l) => JSON.parse(l) as { event: string; key: string; pid: number })
        .filter((e) => e.event === 'start');
      const perKey = new Map<string, number>();
      for (const e of starts) perKey.set(e.key, (perKey.get(e.key) ?? 0) + 1);
      const twice = [...perKey.values()].filter((n) => n > 1).length;
      const missing = [...keys].filter((k) => !perKey.has(k)).length;
      const extra = [...perKey.keys()].filter((k) => !keys.has(k)).length;
      const byWorker = new Map<number, number>();
      for (const e of starts) byWorker.set(e.pid, (byWorker.get(e.pid) ?? 0) + 1);
      log(
        `      step keys: ${keys.size} in the sweep; the workers computed ${perKey.size} distinct keys in ${starts.length} computations (${[...byWorker.values()].join(' + ')} per worker): ` +
          `${twice === 0 ? 'each exactly once' : `${twice} computed more than once`}${missing ? `; ${missing} never computed on a worker` : ''}${extra ? `; ${extra} not in the sweep` : ''}`,
      );
      for (const note of d.workerNotes.slice(0, 5)) log(`      ${note}`);
    }
    for (let r = 0; r < ROUNDS; r++) {
      const cmp = compareOutputs(reference, join(work, `out-remote-hit${r}`));
      if (cmp.differing.length || r === 0)
        log(
          `   remote-hit build ${r + 1} vs local: ${cmp.same}/${cmp.total} byte-identical${cmp.differing.length ? `; DIFFERENT: ${cmp.differing.slice(0, 6).join(', ')}` : ''}`,
        );
    }
    log(`   load average at the end: ${loadavg()[0]!.toFixed(1)}`);
  } finally {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    await Promise.allSettled([redis?.stop(), ...davs.map((d) => d.stop())]);
    if (process.env.MCB_BENCH_KEEP) log(`   (kept ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

function summaryLine(output: string): string {
  return (
    output
      .split('\n')
      .filter((l) => /steps? run|variants?,/.test(l))
      .at(-1)
      ?.trim() ?? '(no summary line)'
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  await benchDistributed((line) => process.stdout.write(`${line}\n`));
