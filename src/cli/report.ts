import { defaultCacheDir } from '../build.js';
import { McbError } from '../errors.js';
import { readReportHistory } from '../execute/history.js';
import { loadRecipe } from '../recipe/index.js';
import { compareReports, readReport, renderComparison, renderMarkdown, renderTable, type Report } from '../report/index.js';
import { reportProblem } from '../report/read.js';
import type { Command, CommandContext } from './command.js';
import { PLAN_OPTIONS } from './command.js';
import { planOptions, stringOption } from './common.js';

const FORMATS = ['text', 'json', 'markdown'] as const;

export const reportCommand: Command = {
  name: 'report',
  summary: "print a build's report.json again, or compare two (two reports, or a recipe's last two builds)",
  usage: 'mcbuild report <output-dir | report.json> [<output-dir | report.json>] | <recipe.yaml> [--format text|json|markdown] [options]',
  positionals: { name: '<output-dir | report.json | recipe.yaml>', min: 1, max: 2 },
  options: {
    format: { type: 'string', value: 'F', description: 'text (default: the table a build prints), json, or markdown (a GitHub table with ✅/❌ thresholds; one report only)' },
    ...PLAN_OPTIONS,
  },
  examples: [
    'mcbuild report out/mnist-mlp-uint8',
    'mcbuild report out/mnist-mlp-uint8/report.json --json | jq .metrics.result.accuracy',
    'mcbuild report out/mnist-mlp-uint8 --format markdown >> "$GITHUB_STEP_SUMMARY"',
    'mcbuild report out/before out/after',
    'mcbuild report recipes/mnist-mlp.yaml    # the last two builds of this recipe that differ',
  ],
  async run(ctx) {
    const format = ctx.values.json ? 'json' : stringOption(ctx, 'format', FORMATS, 'text');
    const [first, second] = ctx.positionals as [string, string | undefined];
    if (second !== undefined || /\.ya?ml$/i.test(first)) {
      if (format === 'markdown') throw new McbError('MCB_USAGE', '--format markdown renders one report; compare two with the text table or --json.');
      const [before, after, labels] = second !== undefined ? await twoReports(first, second) : await lastTwoBuilds(ctx, first);
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
    if (problem) throw new McbError('MCB_USAGE', `the build record of ${recipeFile} in ${cacheDir} holds an unreadable report (${problem}); build the recipe again.`);
  }
  return [previous as Report, latest as Report, ['previous build', 'last build']];
}
