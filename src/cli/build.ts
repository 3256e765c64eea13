import { buildSet, type SetResult } from '../build/index.js';
import type { EventListener } from '../execute/index.js';
import { HTML_FILE, renderSweep, renderTable } from '../report/index.js';
import { plainProgress } from '../report/progress-plain.js';
import { McbError } from '../errors.js';
import { checkInsideProject, findProjectRoot } from '../recipe/index.js';
import type { Command, CommandContext } from './command.js';
import { JOBS_OPTION, PLAN_OPTIONS } from './command.js';
import { buildSummary, jobsOption, planOptions, remoteSummary, signKeyOption } from './common.js';
import { checkReportersInside, parseReporters, writeCiError, writeCiReports } from './reporters.js';
import { runWatch } from './watch.js';
import { join } from 'node:path';
import type { RemoteCache } from '../cache/remote.js';
import { REMOTE_OPTIONS, scaleOutOptions, WORKER_OPTIONS } from './scale-out.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'plan, run what is not cached, gate, and write the output (the default command)',
  usage: 'mcbuild [build] <recipe.yaml> [--out DIR] [--watch[=force]] [options]',
  positionals: { name: '<recipe.yaml>', min: 1, max: 1 },
  options: {
    ...PLAN_OPTIONS,
    ...JOBS_OPTION,
    out: { type: 'string', value: 'DIR', description: "output folder (default: the recipe's `output`)" },
    watch: {
      type: 'boolean',
      description: 'rebuild on every change to the recipes and the files they read (--watch=force without a TTY)',
    },
    reporter: {
      type: 'string',
      multiple: true,
      value: 'junit=PATH',
      description: 'also write a CI report: junit=PATH (JUnit XML, one test case per threshold; repeatable)',
    },
    'sign-key': {
      type: 'string',
      value: 'PATH',
      description:
        'sign the output: an ed25519 private key PEM file (`mcbuild keygen`); default: MCBUILD_SIGN_KEY (a path or the PEM itself)',
    },
    ...REMOTE_OPTIONS,
    ...WORKER_OPTIONS,
  },
  examples: [
    'mcbuild recipes/mobilenet.yaml',
    'mcbuild recipes/mnist-mlp.yaml --backend cpu --out /tmp/mlp',
    'mcbuild --watch recipes/mnist-mlp.yaml recipes/mnist-mlp-fp16.yaml',
    'mcbuild recipes/mobilenet.yaml --json > result.json',
    'mcbuild recipes/mnist-mlp.yaml --reporter junit=reports/mcbuild.xml',
    'mcbuild recipes/mnist-mlp.yaml --sign-key keys/mcbuild-sign.pem',
    'mcbuild recipes/mobilenet.yaml --remote-cache http://cache.internal:8080/mcbuild',
    'mcbuild recipes/sweep.yaml --workers redis://queue.internal:6379 --remote-cache http://cache.internal:8080/mcbuild',
  ],
  async run(ctx) {
    if (ctx.values.watch || ctx.values['watch-force']) {
      if (parseReporters(ctx).length > 0)
        throw new McbError(
          'MCB_USAGE',
          '--reporter writes a CI report of one build and does not work with --watch: drop one of them.',
        );
      return runWatch(ctx);
    }
    return runOnce(ctx);
  },
};

async function listrProgress() {
  return (await import('../report/progress-listr.js')).listrProgress();
}

async function runOnce(ctx: CommandContext): Promise<number> {
  const started = performance.now();
  const { out } = ctx;
  // Live redrawing only for a person at a terminal; CI logs and pipes get one line per event.
  const reporters = parseReporters(ctx);
  const signKey = await signKeyOption(ctx);
  checkReportersInside(ctx, reporters);
  if (ctx.values.out !== undefined)
    checkInsideProject(
      ctx.values.out as string,
      findProjectRoot(ctx.positionals[0]!),
      `--out ${ctx.values.out as string}`,
      ctx.values['allow-outside'] === true,
    );
  // Warnings before the renderer exists (connecting to Redis) wait for it; all go through it.
  const early: string[] = [];
  let warn: (message: string) => void = (message) => early.push(message);
  const scale = await scaleOutOptions(ctx, ctx.positionals[0]!, (message) => warn(message));
  const live = process.stderr.isTTY === true && !process.env.CI && !out.quiet && !out.json;
  let listr: Awaited<ReturnType<typeof listrProgress>> | undefined;
  const plain =
    out.quiet || out.json
      ? undefined
      : plainProgress((line) => process.stderr.write(`${line}\n`), { verbose: out.verbose });
  const onEvent: EventListener = (e) => (listr ? listr.listener(e) : plain?.(e));
  warn = plain
    ? (message) => onEvent({ type: 'warning', message })
    : (message) => process.stderr.write(`mcbuild: warning: ${message}\n`);
  for (const message of early) warn(message);
  // Live redrawing shows one build's steps: not when a sweep's variants build at once (their steps share
  // ids). listr2 is loaded only for a terminal that shows it.
  let atOnce = false;
  const onSchedule = async (schedule: { atOnce: boolean }) => {
    atOnce = schedule.atOnce;
    if (live && !atOnce) listr = await listrProgress();
  };
  // When each variant of a matrix started: its seconds in the JUnit report.
  const variantStarts: number[] = [];
  let set: SetResult;
  try {
    set = await buildSet(ctx.positionals[0]!, {
      ...planOptions(ctx),
      ...jobsOption(ctx),
      ...(scale.remote ? { remote: scale.remote } : {}),
      ...(scale.workers ? { workers: scale.workers } : {}),
      ...(signKey ? { signKey } : {}),
      signal: ctx.signal,
      onEvent,
      onSchedule,
      onSearch: (label) => {
        if (!out.quiet && !out.json) process.stderr.write(`search: ${label}\n`);
      },
      onVariant: (recipe, i, total) => {
        variantStarts.push(performance.now());
        if (!out.quiet && !out.json)
          process.stderr.write(`\n${out.style('bold', `variant ${i + 1}/${total}: ${recipe.variant!.name}`)}\n`);
      },
      ...(ctx.values.out === undefined ? {} : { output: ctx.values.out as string }),
    });
  } catch (e) {
    await writeCiError(reporters, ctx.positionals[0]!, e);
    throw e;
  } finally {
    await listr?.finish();
    await scale.close();
  }
  const ended = performance.now();
  const seconds = (ended - started) / 1000;
  // Built at once (workers, a local pool), each variant's seconds are the sweep's.
  const perBuild = set.sweep
    ? variantStarts.map((t, i) => ((atOnce ? ended : (variantStarts[i + 1] ?? ended)) - t) / 1000)
    : [seconds];
  if (set.sweep) {
    const code = reportSweep(ctx, set, seconds, scale.remote);
    await writeCiReports(ctx, set, reporters, perBuild);
    return code;
  }
  const result = set.results[0]!;
  if (out.json) {
    out.jsonResult({
      ...result.report,
      outputDir: result.outputDir,
      cached: result.execution.cached,
      ran: result.execution.ran,
      seconds,
      ...(scale.remote ? { remoteCache: scale.remote.stats } : {}),
    });
  } else {
    const search = result.report.search as
      | {
          chosen: Record<string, unknown> | null;
          trials: unknown[];
          stoppedBecause: string;
          recipe: string | null;
          record: string | null;
          option: string;
          fallback?: string;
        }
      | undefined;
    const chosen = (c: Record<string, unknown>) =>
      Object.entries(c)
        .map(([l, v]) => `${l}=${String(v)}`)
        .join(', ') || 'every layer at the first candidate';
    const searched = !search
      ? ''
      : search.chosen
        ? `\nsearch: ${search.trials.length} full builds (${search.stoppedBecause}); chosen ${search.option}: ${chosen(search.chosen)}; plain recipe written to ${search.recipe} (record: ${search.record})`
        : `\nsearch: ${search.trials.length} full builds (${search.stoppedBecause}); no plan passes the thresholds, so nothing was written back; built ${search.fallback ?? 'the starting plan'}`;
    out.result(
      `\n${renderTable(result.report, out.style)}\n\noutput: ${result.outputDir} (charts: ${join(result.outputDir, HTML_FILE)})${searched}\n${buildSummary(result, seconds, scale.remote)}`,
    );
    for (const c of result.verdict.checks.filter((c) => !c.pass)) {
      process.stderr.write(`mcbuild: threshold missed: ${c.name}: ${c.text}\n`);
    }
  }
  await writeCiReports(ctx, set, reporters, perBuild);
  return result.exitCode;
}

function reportSweep(ctx: CommandContext, set: SetResult, seconds: number, remote?: RemoteCache): number {
  const sweep = set.sweep!;
  const ran = set.results.reduce((n, r) => n + r.execution.ran.length, 0);
  if (ctx.out.json) {
    ctx.out.jsonResult({
      ...sweep,
      sweepFile: set.sweepFile,
      builds: set.results.map((r) => ({
        variant: r.plan.recipe.variant!.name,
        outputDir: r.outputDir,
        verdict: r.report.verdict,
        ran: r.execution.ran,
        cached: r.execution.cached,
        thresholds: r.report.thresholds,
      })),
      seconds,
      ...(remote ? { remoteCache: remote.stats } : {}),
    });
    return set.exitCode;
  }
  ctx.out.result(
    `\n${renderSweep(sweep, ctx.out.style)}\n\nsweep: ${set.sweepFile}\n${set.results.length} variants, ${ran} steps run in ${seconds.toFixed(1)} s${remoteSummary(remote)} — ${sweep.verdict.toUpperCase()}`,
  );
  for (const r of set.results) {
    for (const c of r.verdict.checks.filter((c) => !c.pass))
      process.stderr.write(`mcbuild: threshold missed: ${r.plan.recipe.variant!.name}: ${c.name}: ${c.text}\n`);
  }
  return set.exitCode;
}
