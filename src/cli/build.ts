import { build } from '../build.js';
import type { EventListener } from '../execute/index.js';
import { renderTable } from '../report/index.js';
import { listrProgress } from '../report/progress-listr.js';
import { plainProgress } from '../report/progress-plain.js';
import type { CliArgs } from './args.js';

export async function runBuild(args: CliArgs, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  // Live redrawing only for a person at a terminal; CI logs and pipes get one line per event.
  const live = process.stderr.isTTY === true && !process.env.CI && !args.quiet && !args.json;
  const listr = live ? listrProgress() : undefined;
  const plain = args.quiet || args.json ? undefined : plainProgress((line) => process.stderr.write(`${line}\n`));
  const onEvent: EventListener = (e) => (listr ? listr.listener(e) : plain?.(e));
  let result;
  try {
    result = await build(args.recipe!, {
      signal,
      onEvent,
      ...(args.cacheDir === undefined ? {} : { cacheDir: args.cacheDir }),
      ...(args.backend === undefined ? {} : { backend: args.backend }),
      ...(args.out === undefined ? {} : { output: args.out }),
    });
  } finally {
    await listr?.finish();
  }
  const seconds = (performance.now() - started) / 1000;
  const { execution, report } = result;
  const steps = result.plan.steps.length;
  const summary = `${steps} steps, ${execution.cached.length} cached, ${execution.ran.length} run in ${seconds.toFixed(1)} s — ${report.verdict.toUpperCase()}`;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...report, outputDir: result.outputDir, cached: execution.cached, ran: execution.ran, seconds }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${renderTable(report)}\n\noutput: ${result.outputDir}\n${summary}\n`);
    for (const c of result.verdict.checks.filter((c) => !c.pass)) {
      process.stderr.write(`mcbuild: threshold missed: ${c.name}: ${c.text}\n`);
    }
  }
  return result.exitCode;
}
