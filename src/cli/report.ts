import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { defaultCacheDir } from '../pipeline/index.js';
import { McbError } from '../errors.js';
import { readReportHistory } from '../execute/history.js';
import { loadRecipe } from '../language/index.js';
import {
  compareReports,
  HTML_FILE,
  htmlPage,
  readReport,
  readReportOrSweep,
  renderComparison,
  renderHtml,
  renderMarkdown,
  renderTable,
  type HtmlItem,
  type Report,
} from '../report/index.js';
import { writeTextAtomic } from '../util/write.js';
import { reportProblem } from '../report/read.js';
import type { Command, CommandContext } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions, stringOption } from './common.js';

const FORMATS = ['text', 'json', 'markdown'] as const;

export const reportCommand: Command = {
  name: 'report',
  summary:
    "print a build's report.json again, compare two (two reports, or a recipe's last two builds), or chart any number as one HTML page",
  usage:
    'mcbuild report <output-dir | report.json> [<output-dir | report.json>] | <recipe.yaml> [--format text|json|markdown] [options]\n' +
    '  mcbuild report <output-dir | report.json | sweep-dir | sweep.json>... (--html PATH | --open)',
  // Without --html / --open at most two (checked in run): one report, or two to compare.
  positionals: { name: '<output-dir | report.json | recipe.yaml>', min: 1, max: Number.POSITIVE_INFINITY },
  options: {
    format: {
      type: 'string',
      value: 'F',
      description:
        'text (default: the table a build prints), json, or markdown (a GitHub table with ✅/❌ thresholds; one report only)',
    },
    html: {
      type: 'string',
      value: 'PATH',
      description:
        'write the reports (any number; sweep folders too) as one self-contained HTML page with charts, and print where',
    },
    open: {
      type: 'boolean',
      description:
        'write that page (beside the report, else a temporary file; or to --html) and open it in the browser ($BROWSER, else xdg-open / open / start)',
    },
    ...PLAN_OPTIONS,
  },
  examples: [
    'mcbuild report out/mnist-mlp-uint8',
    'mcbuild report out/mnist-mlp-uint8/report.json --json | jq .metrics.result.accuracy',
    'mcbuild report out/mnist-mlp-uint8 --format markdown >> "$GITHUB_STEP_SUMMARY"',
    'mcbuild report out/before out/after',
    'mcbuild report recipes/mnist-mlp.yaml    # the last two builds of this recipe that differ',
    'mcbuild report out/mnist-mlp-uint8 --open   # the charts in the browser',
    'mcbuild report out/mnist-mlp-sweep out/mnist-mlp-fp16 --html pareto.html   # a sweep and another recipe on one page',
  ],
  async run(ctx) {
    if (ctx.values.html !== undefined || ctx.values.open) return htmlReport(ctx);
    if (ctx.positionals.length > 2) {
      throw new McbError(
        'MCB_USAGE',
        `unexpected argument ${JSON.stringify(ctx.positionals[2])}: \`mcbuild report\` prints one report or compares two; to put more on one page add --html PATH or --open. Run \`mcbuild report --help\`.`,
      );
    }
    const format = ctx.values.json ? 'json' : stringOption(ctx, 'format', FORMATS, 'text');
    const [first, second] = ctx.positionals as [string, string | undefined];
    if (second !== undefined || /\.ya?ml$/i.test(first)) {
      if (format === 'markdown')
        throw new McbError(
          'MCB_USAGE',
          '--format markdown renders one report; compare two with the text table or --json.',
        );
      const [before, after, labels] =
        second !== undefined ? await twoReports(first, second) : await lastTwoBuilds(ctx, first);
      const comparison = compareReports(before, after);
      if (format === 'json') ctx.out.jsonResult(comparison);
      else ctx.out.result(renderComparison(comparison, labels));
      return after.verdict === 'pass' ? 0 : 1;
    }
    const { report } = await readReport(first);
    if (format === 'json') ctx.out.jsonResult(report);
    else if (format === 'markdown') ctx.out.result(renderMarkdown(report));
    else ctx.out.result(renderTable(report, ctx.out.style));
    return report.verdict === 'pass' ? 0 : 1;
  },
};

async function twoReports(a: string, b: string): Promise<[Report, Report, [string, string]]> {
  const [ra, rb] = [await readReport(a), await readReport(b)];
  return [ra.report, rb.report, ['before', 'after']];
}

/** The recipe's last build and the different one before it, recorded in the cache by each build. */
async function lastTwoBuilds(ctx: CommandContext, recipeFile: string): Promise<[Report, Report, [string, string]]> {
  const opts = planOptions(ctx);
  const recipe = await loadRecipe(recipeFile, opts);
  const cacheDir = opts.cacheDir ?? defaultCacheDir(recipe.file);
  const { latest, previous } = await readReportHistory(cacheDir, recipe);
  if (latest === undefined || previous === undefined) {
    throw new McbError(
      'MCB_USAGE',
      `${recipeFile} has ${latest === undefined ? 'no recorded build' : 'only one recorded build'} in ${cacheDir}; build it${latest === undefined ? '' : ' again after a change'} to compare, or pass two output folders (\`mcbuild report out/a out/b\`).`,
    );
  }
  for (const r of [latest, previous]) {
    const problem = reportProblem(r);
    if (problem)
      throw new McbError(
        'MCB_USAGE',
        `the build record of ${recipeFile} in ${cacheDir} holds an unreadable report (${problem}); build the recipe again.`,
      );
  }
  return [previous as Report, latest as Report, ['previous build', 'last build']];
}

/**
 * --html / --open: every positional (output folders, report.json files, sweep folders or sweep.json files) on
 * one page. Exit 0/1 by the verdicts shown, like the text report: every build passes (a sweep's variants by
 * its gate), or not.
 */
async function htmlReport(ctx: CommandContext): Promise<number> {
  if (ctx.values.format !== undefined)
    throw new McbError(
      'MCB_USAGE',
      '--format chooses the terminal output; --html and --open write a page instead. Drop one of them.',
    );
  const items: HtmlItem[] = [];
  let pass = true;
  for (const target of ctx.positionals) {
    if (/\.ya?ml$/i.test(target)) {
      throw new McbError(
        'MCB_USAGE',
        `${target} is a recipe; --html and --open chart built reports. Pass the recipe's output folder (build it first with \`mcbuild ${target}\`), or its sweep folder.`,
      );
    }
    const read = await readReportOrSweep(target);
    // The folder's name tells apart two builds of one recipe; never a full path (the page carries none).
    const where = (file: string) => basename(dirname(resolve(file)));
    if (read.kind === 'report') {
      items.push({ report: read.report, where: where(read.file) });
      pass &&= read.report.verdict === 'pass';
    } else {
      items.push({
        sweep: read.sweep,
        variants: read.variants.map((v) => ({ report: v.report, where: where(v.file) })),
      });
      pass &&= read.sweep.verdict === 'pass';
    }
  }
  const html = renderHtml(htmlPage(items));
  const file = ctx.values.html !== undefined ? (ctx.values.html as string) : await pageBeside(ctx.positionals);
  await writeTextAtomic(file, html, 'HTML report');
  const opened = ctx.values.open ? await openInBrowser(file) : undefined;
  if (ctx.out.json) {
    ctx.out.jsonResult({
      html: resolve(file),
      reports: items.reduce((n, i) => n + ('sweep' in i ? i.variants.length : 1), 0),
      ...(opened === undefined ? {} : { opened: opened.ok, ...(opened.ok ? { with: opened.command } : {}) }),
    });
  } else {
    ctx.out.result(`report page: ${file}`);
    if (opened?.ok) ctx.out.info(`opened with ${opened.command}`);
    else if (opened)
      ctx.out.result(
        `could not open a browser (${opened.why}); open the file above yourself, or set BROWSER to your browser's command (e.g. BROWSER=firefox).`,
      );
  }
  return pass ? 0 : 1;
}

/**
 * Where --open writes without --html: report.html beside the one report (or sweep) given, when that folder is
 * writable (a build already wrote the same page there; this refreshes it); else, and for several inputs, a new
 * temporary folder.
 */
async function pageBeside(targets: readonly string[]): Promise<string> {
  if (targets.length === 1) {
    const t = targets[0]!;
    const folder = (await stat(t)).isDirectory() ? t : dirname(t);
    try {
      await access(folder, constants.W_OK);
      return join(folder, HTML_FILE);
    } catch {
      // read-only (a mounted artifact, another user's folder): fall through to a temporary file
    }
  }
  return join(await mkdtemp(join(tmpdir(), 'mcbuild-report-')), HTML_FILE);
}

/**
 * Starts the user's browser on `file` and returns once it started (never waits for it to close): $BROWSER
 * (the first of a `:`-separated list; `%s` stands for the file, literally, `$&` in it too; else it is appended; split on spaces, no shell),
 * else the platform's opener. ok: false when none could be started.
 */
async function openInBrowser(file: string): Promise<{ ok: true; command: string } | { ok: false; why: string }> {
  const path = resolve(file);
  const fromEnv = process.env.BROWSER?.split(delimiter)
    .map((s) => s.trim())
    .find((s) => s.length > 0);
  let argv: string[];
  if (fromEnv) {
    const words = fromEnv.split(/\s+/);
    argv = words.some((w) => w.includes('%s')) ? words.map((w) => w.replace(/%s/g, () => path)) : [...words, path];
  } else if (process.platform === 'darwin') argv = ['open', path];
  else if (process.platform === 'win32') argv = ['cmd', '/c', 'start', '""', path];
  else argv = ['xdg-open', path];
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((done) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsHide: true });
      child.once('error', (e) =>
        done({
          ok: false,
          why: `${command}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message}`,
        }),
      );
      child.once('spawn', () => {
        child.unref();
        done({ ok: true, command });
      });
    } catch (e) {
      done({ ok: false, why: `${command}: ${e instanceof Error ? e.message : String(e)}` });
    }
  });
}
