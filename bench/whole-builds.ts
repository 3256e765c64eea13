/**
 * Whole builds on every core, as a user runs them (`node bin/mcbuild.js`, one process per figure), with the core
 * count and the load average beside each figure:
 *   a. the 12-variant sweep of section 8, cold, one step at a time (`--jobs 1`: in the build's own process, on
 *      every core as wasm threads) vs steps side by side (the default: child processes sharing the cores),
 *      rounds in A B B A order; the outputs must be byte-identical;
 *   b. the quick start (`recipes/mobilenet.yaml`), cold, into a fresh cache: wall, CPU, accuracy;
 *   c. on that cache: `--version`, a cached `plan` and a fully cached rebuild, median of 5 each.
 *
 * Runs alone with `npm run build && node dist/bench/whole-builds.js`; `npm run bench` runs it as section 13.
 * MCBUILD_BENCH_QUICK_START=0 leaves out (b) and (c) (the cold quick start takes minutes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkRun, compareOutputs, RECIPE, runCli, VARIANTS, type Run } from './distributed.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'mcbuild.js');
const s = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const load = () => `load ${loadavg()[0]!.toFixed(1)}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Seconds of wall one process takes, median of `n` (the first run is not thrown away: each is a fresh process). */
function wallOf(args: string[], n: number): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    });
    times.push((performance.now() - started) / 1000);
    if (r.status !== 0) throw new Error(`mcbuild ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  }
  return median(times);
}

export async function benchWholeBuilds(log: (line: string) => void): Promise<void> {
  const cores = availableParallelism();
  log(`\n13. whole builds on ${cores} cores, one mcbuild process per figure`);
  const work = mkdtempSync(join(tmpdir(), 'mcb-bench-whole-'));
  writeFileSync(join(work, 'package.json'), `${JSON.stringify({ name: 'mcb-bench-whole', private: true })}\n`);
  writeFileSync(join(work, 'recipe.yaml'), RECIPE);
  try {
    log(
      `   a. the ${VARIANTS}-variant sweep of section 8, cold: one step at a time (--jobs 1) vs side by side (default)`,
    );
    let rounds = 0;
    // Every round cold: a cache and an output folder of its own.
    const round = async (name: string, extra: string[]): Promise<Run> => {
      const started = load();
      const at = `${name}-${rounds++}`;
      const run = await runCli(
        ['recipe.yaml', '--cache-dir', join(work, `cache-${at}`), '--out', join(work, `out-${at}`), ...extra],
        work,
        join(work, `${at}.time`),
        join(work, `${at}.log`),
      );
      checkRun(`the sweep (${name})`, run);
      log(
        `      ${name.padEnd(14)} wall ${s(run.wall).padStart(6)} s   CPU ${s(run.cpu).padStart(6)} s (${s(run.cpu / run.wall, 2)} cores busy; ${started} at the start)`,
      );
      return run;
    };
    const one = [await round('one-at-a-time', ['--jobs', '1'])];
    const side = [await round('side-by-side', [])];
    side.push(await round('side-by-side', []));
    one.push(await round('one-at-a-time', ['--jobs', '1']));
    const ratios = one.map((r, i) => r.wall / side[i]!.wall);
    const cmp = compareOutputs(join(work, 'out-one-at-a-time-0'), join(work, 'out-side-by-side-1'));
    log(
      `      speed-up side by side: ${ratios.map((r) => `${s(r, 2)}x`).join(', ')} (rounds); mean walls ${s((one[0]!.wall + one[1]!.wall) / 2)} vs ${s((side[0]!.wall + side[1]!.wall) / 2)} s (goal ≥ 1.6x on 2 cores)`,
    );
    log(
      `      outputs: ${cmp.same}/${cmp.total} result files byte-identical${cmp.differing.length ? `; DIFFERENT: ${cmp.differing.join(', ')}` : ''}`,
    );
    if (cmp.differing.length) throw new Error('steps side by side changed the outputs');

    if (process.env.MCBUILD_BENCH_QUICK_START === '0') return;
    const cache = join(work, 'cache-quick-start');
    const out = join(work, 'out-quick-start');
    const args = ['recipes/mobilenet.yaml', '--cache-dir', cache, '--out', out, '--allow-outside'];
    log(`   b. the quick start, cold (recipes/mobilenet.yaml into a fresh cache; ${load()} at the start)`);
    const cold = await runCli(args, ROOT, join(work, 'quick-start.time'), join(work, 'quick-start.log'));
    checkRun('the quick start', cold);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      metrics: { baseline: { accuracy: number }; result: { accuracy: number } };
    };
    log(
      `      wall ${s(cold.wall)} s, CPU ${s(cold.cpu)} s; accuracy ${s(report.metrics.baseline.accuracy * 100, 2)}% → ${s(report.metrics.result.accuracy * 100, 2)}% (goal ≤ 100 s, ≥ 98%)`,
    );
    log(`   c. cached, median of 5 processes each (${load()}; \`node -e 0\`: ${s(wallOf0(), 3)} s)`);
    log(`      --version          ${s(wallOf(['--version'], 5), 3)} s (goal ≤ 0.15 s)`);
    log(`      plan, cached       ${s(wallOf(['plan', ...args.slice(0, 3)], 5), 3)} s (goal ≤ 0.3 s)`);
    log(`      rebuild, all hits  ${s(wallOf(args, 5), 3)} s (goal ≤ 0.4 s)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function wallOf0(): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    times.push((performance.now() - started) / 1000);
  }
  return median(times);
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  await benchWholeBuilds((line) => process.stdout.write(`${line}\n`));
