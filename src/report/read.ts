import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import type { Report } from './json.js';
import { REPORT_FILE } from './output.js';
import { asRunLog, mergeRun, RUN_FILE } from './run.js';
import { SWEEP_FILE, type Sweep } from './sweep.js';

/**
 * Reads a report.json written by a build: `target` is the output folder or the file itself. Anything that is
 * not such a report is an McbError (exit 2) naming the file and what to pass instead.
 */
export async function readReport(target: string): Promise<{ file: string; report: Report }> {
  let file = target;
  try {
    if ((await stat(target)).isDirectory()) file = join(target, REPORT_FILE);
  } catch (e) {
    throw notFound(target, e);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (file !== target && errnoCode(e) === 'ENOENT') {
      throw new McbError(
        'MCB_USAGE',
        `${target} holds no ${REPORT_FILE}: it is not the output folder of an mcbuild build. Pass the folder a build wrote (the recipe's \`output\`, or --out) or its ${REPORT_FILE}.`,
      );
    }
    throw notFound(file, e);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw invalid(file, `it is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const problem = reportProblem(data);
  if (problem) throw invalid(file, problem);
  // The run log beside it holds the latency and the latency checks' measurements (src/report/run.ts).
  // It is informative, never required: a missing or unreadable one leaves latency out.
  const run = await readFile(join(dirname(file), RUN_FILE), 'utf8')
    .then((t) => asRunLog(JSON.parse(t) as unknown))
    .catch(() => undefined);
  return { file, report: mergeRun(data as Report, run) };
}

function notFound(path: string, e: unknown): McbError {
  const code = errnoCode(e);
  return new McbError(
    'MCB_USAGE',
    `${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`}. Pass the output folder of a build (the recipe's \`output\`, or --out) or the ${REPORT_FILE} inside it.`,
  );
}

function invalid(file: string, why: string): McbError {
  return new McbError(
    'MCB_USAGE',
    `${file} is not an mcbuild report: ${why}. Build the recipe again to rewrite it, or pass the ${REPORT_FILE} of another build.`,
  );
}

/** What is wrong with `data` as a Report, or undefined when it has everything the renderers read. */
export function reportProblem(data: unknown): string | undefined {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(data)) return 'it is not a JSON object';
  if (data.generator !== 'mcbuild') return 'it has no `"generator": "mcbuild"`';
  if (!isObj(data.recipe) || typeof data.recipe.name !== 'string') return '`recipe.name` is missing';
  if (data.verdict !== 'pass' && data.verdict !== 'fail') return '`verdict` must be "pass" or "fail"';
  if (!isObj(data.metrics)) return '`metrics` is missing';
  for (const side of ['baseline', 'result'] as const) {
    const m = data.metrics[side];
    if (!isObj(m)) return `\`metrics.${side}\` is missing`;
    for (const k of ['sizeBytes', 'params', 'count'])
      if (typeof m[k] !== 'number') return `\`metrics.${side}.${k}\` must be a number`;
    // Absent when the eval data had no labels (a fidelity-only build).
    if (m.accuracy !== undefined && typeof m.accuracy !== 'number')
      return `\`metrics.${side}.accuracy\` must be a number`;
  }
  if (!Array.isArray(data.thresholds)) return '`thresholds` must be a list';
  for (const [i, c] of data.thresholds.entries()) {
    // A latency check's text is in run.json (src/report/run.ts); every other check carries its own.
    if (
      !isObj(c) ||
      typeof c.name !== 'string' ||
      typeof c.pass !== 'boolean' ||
      (typeof c.text !== 'string' && !(c.text === undefined && c.name.startsWith('latency.')))
    )
      return `\`thresholds[${i}]\` needs a name, pass and text`;
  }
  if (typeof data.backend !== 'string') return '`backend` is missing';
  return undefined;
}

/** A build's report, or a matrix sweep's summary with every variant's report (read from the folders it names). */
export type ReportOrSweep =
  | { kind: 'report'; file: string; report: Report }
  | { kind: 'sweep'; file: string; sweep: Sweep; variants: { file: string; report: Report }[] };

/**
 * Reads what `mcbuild report --html` puts on a page: an output folder or its report.json, or a sweep's folder
 * or its sweep.json (then each variant's report.json, in the folder sweep.json names). Anything else is an
 * McbError naming the path and what to pass instead.
 */
export async function readReportOrSweep(target: string): Promise<ReportOrSweep> {
  let isDir: boolean;
  try {
    isDir = (await stat(target)).isDirectory();
  } catch (e) {
    throw notFound(target, e);
  }
  let sweepFile: string | undefined;
  if (isDir) {
    const has = async (name: string) =>
      stat(join(target, name)).then(
        () => true,
        () => false,
      );
    if (!(await has(REPORT_FILE))) {
      if (!(await has(SWEEP_FILE))) {
        throw new McbError(
          'MCB_USAGE',
          `${target} holds neither ${REPORT_FILE} nor ${SWEEP_FILE}: it is not the output folder of an mcbuild build or sweep. Pass the folder a build wrote (the recipe's \`output\`, or --out), a sweep's folder, or the ${REPORT_FILE} / ${SWEEP_FILE} inside it.`,
        );
      }
      sweepFile = join(target, SWEEP_FILE);
    }
  } else {
    // A file: a sweep summary has a matrix and variants; anything else is read (and checked) as a report.
    let data: unknown;
    try {
      data = JSON.parse(await readFile(target, 'utf8'));
    } catch {
      data = undefined;
    }
    if (typeof data === 'object' && data !== null && 'matrix' in data && 'variants' in data) sweepFile = target;
  }
  if (sweepFile === undefined) return { kind: 'report', ...(await readReport(target)) };
  const sweep = await readSweepFile(sweepFile);
  const variants = [];
  for (const v of sweep.variants) {
    const folder = join(dirname(sweepFile), v.folder);
    try {
      variants.push(await readReport(folder));
    } catch (e) {
      if (!(e instanceof McbError)) throw e;
      throw new McbError(
        'MCB_USAGE',
        `${sweepFile} lists variant ${v.name} in ${folder}, but its report cannot be read: ${e.message} Build the sweep again, or pass the variants' folders one by one.`,
      );
    }
  }
  return { kind: 'sweep', file: sweepFile, sweep, variants };
}

async function readSweepFile(file: string): Promise<Sweep> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError)
      throw new McbError(
        'MCB_USAGE',
        `${file} is not an mcbuild sweep summary: it is not valid JSON (${e.message}). Build the sweep again to rewrite it.`,
      );
    throw notFound(file, e);
  }
  const d = data as Partial<Sweep> | null;
  const ok =
    typeof d === 'object' &&
    d !== null &&
    d.generator === 'mcbuild' &&
    typeof d.recipe?.name === 'string' &&
    typeof d.matrix === 'object' &&
    (d.verdict === 'pass' || d.verdict === 'fail') &&
    Array.isArray(d.variants) &&
    d.variants.every(
      (v) => typeof v?.name === 'string' && typeof v.folder === 'string' && typeof v.verdict === 'string',
    );
  if (!ok)
    throw new McbError(
      'MCB_USAGE',
      `${file} is not an mcbuild sweep summary (it needs \`"generator": "mcbuild"\`, the recipe, the matrix, the verdict and each variant's name and folder). Build the sweep again to rewrite it, or pass the variants' output folders.`,
    );
  return d as Sweep;
}
