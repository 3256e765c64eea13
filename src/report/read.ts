import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import type { Report } from './json.js';
import { REPORT_FILE } from './output.js';

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
      throw new McbError('MCB_USAGE', `${target} holds no ${REPORT_FILE}: it is not the output folder of an mcbuild build. Pass the folder a build wrote (the recipe's \`output\`, or --out) or its ${REPORT_FILE}.`);
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
  return { file, report: data as Report };
}

function notFound(path: string, e: unknown): McbError {
  const code = errnoCode(e);
  return new McbError(
    'MCB_USAGE',
    `${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`}. Pass the output folder of a build (the recipe's \`output\`, or --out) or the ${REPORT_FILE} inside it.`,
  );
}

function invalid(file: string, why: string): McbError {
  return new McbError('MCB_USAGE', `${file} is not an mcbuild report: ${why}. Build the recipe again to rewrite it, or pass the ${REPORT_FILE} of another build.`);
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
    for (const k of ['accuracy', 'sizeBytes', 'params', 'count']) if (typeof m[k] !== 'number') return `\`metrics.${side}.${k}\` must be a number`;
  }
  if (!Array.isArray(data.thresholds)) return '`thresholds` must be a list';
  for (const [i, c] of data.thresholds.entries()) {
    if (!isObj(c) || typeof c.name !== 'string' || typeof c.pass !== 'boolean' || typeof c.text !== 'string') return `\`thresholds[${i}]\` needs a name, pass and text`;
  }
  if (typeof data.backend !== 'string') return '`backend` is missing';
  return undefined;
}
