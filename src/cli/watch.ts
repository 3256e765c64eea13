/**
 * The terminal side of `mcbuild --watch`: keys, screen, and the latest verdict table per recipe with its
 * changes since the previous build. Scheduling lives in src/watch.ts.
 */
import { relative } from 'node:path';
import { McbError, isMcbError } from '../errors.js';
import type { Report } from '../report/index.js';
import { renderSweep, renderTable } from '../report/index.js';
import { plainProgress } from '../report/progress-plain.js';
import { RecipeWatcher, type WatchEvent } from '../build/watch.js';
import type { CommandContext } from './command.js';
import { buildSummary, jobsOption, planOptions, signKeyOption } from './common.js';
import { scaleOutOptions } from './scale-out.js';

const KEYS = 'r rebuild · c clear · q quit · h help';
const HELP = [
  'watch mode keys:',
  '  r       rebuild every recipe now',
  '  c       clear the screen',
  '  q       quit',
  '  h       this help',
  '  Ctrl-C  cancel the build in flight; again (or when idle) to quit',
].join('\n');

export async function runWatch(ctx: CommandContext): Promise<number> {
  const force = ctx.values['watch-force'] === true;
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (!tty && !force) {
    throw new McbError(
      'MCB_USAGE',
      'watch mode needs an interactive terminal (stdin and stdout are not a TTY here). In CI run a plain `mcbuild <recipe>`; to watch anyway, use --watch=force.',
    );
  }
  const { out } = ctx;
  const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const clear = () => {
    if (tty) process.stdout.write('\x1b[2J\x1b[3J\x1b[H');
  };
  const show = (file: string) => relative(process.cwd(), file) || file;
  const previous = new Map<string, Report>();
  const progress = new Map<string, ReturnType<typeof plainProgress>>();

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const onEvent = (e: WatchEvent) => {
    switch (e.type) {
      case 'build-start':
        if (e.trigger !== 'start')
          write(out.style('dim', `\n— ${show(e.recipe)}: ${e.trigger.replace(process.cwd() + '/', '')}`));
        write(out.style('bold', `building ${show(e.recipe)}`));
        progress.set(
          e.recipe,
          plainProgress((line) => write(`  ${line}`), { verbose: out.verbose }),
        );
        break;
      case 'build-event':
        progress.get(e.recipe)?.(e.event);
        break;
      case 'build-done': {
        if (e.set.sweep) {
          write(
            `\n${renderSweep(e.set.sweep, out.style)}\n${e.set.results.length} variants in ${e.seconds.toFixed(1)} s — ${e.set.sweep.verdict.toUpperCase()}`,
          );
          break;
        }
        const report = e.result.report;
        write(
          `\n${renderTable(report, out.style, previous.get(e.recipe))}\n${buildSummary(e.result, e.seconds, scale.remote)}`,
        );
        previous.set(e.recipe, report);
        break;
      }
      case 'build-cancelled':
        write(out.style('yellow', `${show(e.recipe)}: build cancelled; nothing half-done was cached`));
        break;
      case 'build-failed': {
        const err = e.error;
        write(
          isMcbError(err)
            ? out.style('red', `mcbuild: error ${err.code}: ${err.message}`)
            : out.style(
                'red',
                `mcbuild: internal error — a bug in mcbuild: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
              ),
        );
        write(out.style('dim', 'fix the file and save: still watching'));
        break;
      }
      case 'idle':
        write(
          out.style(
            'dim',
            `\nwatching ${e.watching} file${e.watching === 1 ? '' : 's'} — waiting for changes (${KEYS})`,
          ),
        );
        break;
    }
  };

  const signKey = await signKeyOption(ctx);
  // One remote cache and queue for the whole session: an outage is warned about once, not at every save.
  const scale = await scaleOutOptions(ctx, ctx.positionals[0]!, (message) =>
    write(out.style('yellow', `mcbuild: warning: ${message}`)),
  );
  const watcher = new RecipeWatcher(ctx.positionals, {
    ...planOptions(ctx),
    ...jobsOption(ctx),
    ...(signKey ? { signKey } : {}),
    ...(scale.remote ? { remote: scale.remote } : {}),
    ...(scale.workers ? { workers: scale.workers } : {}),
    ...(ctx.values.out === undefined ? {} : { output: ctx.values.out as string }),
    onEvent,
  });
  const quit = async (code: number) => {
    if (tty) process.stdin.setRawMode(false);
    process.stdin.pause();
    await watcher.close();
    await scale.close();
    resolveDone(code);
  };
  const interrupt = () => {
    if (watcher.busy && watcher.cancel()) write(out.style('yellow', '\ncancelling the build (Ctrl-C again to quit)'));
    else void quit(0);
  };

  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === '\u0003') interrupt();
      else if (key === 'q') void quit(0);
      else if (key === 'r') watcher.rebuildAll();
      else if (key === 'c') clear();
      else if (key === 'h') write(HELP);
    });
    process.stdin.resume();
  }
  // Without a TTY (--watch=force), Ctrl-C arrives as SIGINT: the CLI aborts ctx.signal on the first one.
  ctx.signal.addEventListener('abort', interrupt);
  await watcher.start();
  return done;
}
