/**
 * CI reporters of `mcbuild build`: `--reporter junit=PATH` (repeatable), and on GitHub Actions the job
 * summary ($GITHUB_STEP_SUMMARY) and `::error` annotations ($GITHUB_ACTIONS=true).
 */
import type { SetResult } from '../build/index.js';
import { McbError } from '../errors.js';
import { checkInsideProject, findProjectRoot } from '../recipe/index.js';
import {
  appendStepSummary,
  renderJUnit,
  renderJUnitError,
  renderStepSummary,
  thresholdAnnotations,
  type JUnitBuild,
  type JUnitFailedVariant,
} from '../report/index.js';
import { writeTextAtomic } from '../util/write.js';
import type { CommandContext } from './command.js';

export const REPORTERS = ['junit'] as const;
export interface Reporter {
  kind: (typeof REPORTERS)[number];
  path: string;
}

/** `--reporter junit=PATH`, checked before anything is built so a typo fails in milliseconds. */
export function parseReporters(ctx: CommandContext): Reporter[] {
  const given = (ctx.values.reporter as string[] | undefined) ?? [];
  return given.map((arg) => {
    const eq = arg.indexOf('=');
    const kind = eq < 0 ? arg : arg.slice(0, eq);
    const path = eq < 0 ? '' : arg.slice(eq + 1);
    if (!(REPORTERS as readonly string[]).includes(kind)) {
      throw new McbError(
        'MCB_USAGE',
        `--reporter ${JSON.stringify(arg)}: unknown reporter ${JSON.stringify(kind)}. Reporters: ${REPORTERS.join(', ')}, written as NAME=PATH, e.g. \`--reporter junit=reports/junit.xml\`.`,
      );
    }
    if (path === '') {
      throw new McbError(
        'MCB_USAGE',
        `--reporter ${JSON.stringify(arg)} needs the file to write after \`=\`, e.g. \`--reporter ${kind}=reports/${kind}.xml\`.`,
      );
    }
    return { kind: kind as Reporter['kind'], path };
  });
}

/** A CI report is written like the output: inside the project unless --allow-outside. */
export function checkReportersInside(ctx: CommandContext, reporters: readonly Reporter[]): void {
  const root = findProjectRoot(ctx.positionals[0]!);
  for (const rep of reporters)
    checkInsideProject(rep.path, root, `--reporter ${rep.kind}=${rep.path}`, ctx.values['allow-outside'] === true);
}

/**
 * After a build: the JUnit files, the GitHub job summary, and the annotations.
 *
 * Annotations are workflow commands, which the Actions runner reads from the step's stdout and stderr alike.
 * They go to stdout, after the results, where a CI log shows them next to the table; with --json stdout must
 * stay one JSON document (a CI step pipes it to a file or to jq), so they go to stderr instead and still
 * annotate the run. --quiet does not silence them: they are results, not progress.
 */
export async function writeCiReports(
  ctx: CommandContext,
  set: SetResult,
  reporters: readonly Reporter[],
  seconds: readonly number[],
): Promise<void> {
  const builds: (JUnitBuild | JUnitFailedVariant)[] = set.results.map((r, i) => ({
    report: r.report,
    seconds: seconds[i] ?? 0,
  }));
  // A matrix variant that stopped with an error has no report: its suite says why, in the sweep's order.
  const sweep = set.sweep;
  if (sweep)
    sweep.variants.forEach((v, i) => {
      if (v.error !== undefined) builds.splice(i, 0, { recipe: sweep.recipe, variant: v.name, error: v.error });
    });
  for (const rep of reporters) await writeTextAtomic(rep.path, renderJUnit(builds), 'JUnit report');
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary)
    await appendStepSummary(
      summary,
      renderStepSummary(
        set.results.map((r) => r.report),
        set.sweep,
      ),
    );
  if (process.env.GITHUB_ACTIONS === 'true') {
    const lines = set.results.flatMap((r) =>
      thresholdAnnotations(
        r.verdict.checks,
        r.plan.recipe.source,
        r.plan.recipe.variant && set.sweep ? { variant: r.plan.recipe.variant.name } : {},
      ),
    );
    if (lines.length > 0) (ctx.out.json ? process.stderr : process.stdout).write(`${lines.join('\n')}\n`);
  }
}

/** A build that failed before it had results: each JUnit file gets one <error> test case (best effort). */
export async function writeCiError(reporters: readonly Reporter[], recipeFile: string, error: unknown): Promise<void> {
  const e = error as { code?: unknown; message?: unknown };
  const info = {
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
  for (const rep of reporters) {
    try {
      await writeTextAtomic(rep.path, renderJUnitError(recipeFile, info), 'JUnit report');
    } catch (w) {
      // The build's own error is what the user must see; this one is a footnote.
      process.stderr.write(`mcbuild: ${(w as Error).message}\n`);
    }
  }
}
