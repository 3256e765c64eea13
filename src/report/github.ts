/**
 * GitHub Actions: the markdown report appended to the job summary ($GITHUB_STEP_SUMMARY), and one `::error`
 * workflow command per missed threshold, pointing at the line of the recipe where the threshold was written,
 * so the pull request shows it on that line.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative } from 'node:path';
import { McbError } from '../errors.js';
import type { Check } from '../gate/index.js';
import type { RecipeSource } from '../recipe/source.js';
import type { Report } from './json.js';
import { renderMarkdown } from './markdown.js';
import { sweepQuality, type Sweep } from './sweep.js';

/** A workflow command's message: %, CR and LF escaped as GitHub's runner unescapes them. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value: as a message, and `:` and `,` too (they delimit properties). */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error file=…,line=…,col=…,title=…::message`, properties escaped, the ones undefined left out. */
export function workflowCommand(
  command: string,
  props: Record<string, string | number | undefined>,
  message: string,
): string {
  const p = Object.entries(props)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${command}${p ? ` ${p}` : ''}::${escapeData(message)}`;
}

/**
 * One `::error` per missed check, at the place the threshold was written: `thresholds.<group>.<key>` of the
 * recipe, or of the base recipe that wrote it when `extends` is used. A threshold set with `--set` has no
 * place in a file: its annotation names no file. `variant` prefixes the message for a matrix variant.
 */
export function thresholdAnnotations(
  checks: readonly Check[],
  source: RecipeSource,
  opts: { cwd?: string; variant?: string } = {},
): string[] {
  const cwd = opts.cwd ?? process.cwd();
  return checks
    .filter((c) => !c.pass)
    .map((c) => {
      const path = ['thresholds', ...c.name.split('.')];
      const pos = source.positionOf(path);
      const inFile = pos.label === undefined && pos.line > 0;
      const rel = relative(cwd, pos.file);
      const file = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : pos.file;
      const message = `${opts.variant ? `variant ${opts.variant}: ` : ''}${c.text}`;
      return workflowCommand(
        'error',
        {
          ...(inFile ? { file: file.split('\\').join('/'), line: pos.line, col: pos.col } : {}),
          title: `mcbuild: ${c.name}`,
        },
        pos.label === undefined ? message : `${message} (threshold from ${pos.label})`,
      );
    });
}

/** A cell of a GitHub table: pipes escaped, line breaks flattened. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** A matrix sweep as a markdown table (the terminal's sweep table, for the job summary). */
export function renderSweepMarkdown(sweep: Sweep): string {
  const pass = sweep.verdict === 'pass';
  const signed = (x: number) => `${x > 0 ? '+' : x < 0 ? '-' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;
  const passed = sweep.variants.filter((v) => v.verdict === 'pass').length;
  return [
    `### mcbuild sweep: ${cell(sweep.recipe.name)} — ${pass ? '✅ PASS' : '❌ FAIL'}`,
    '',
    '| variant | accuracy | vs baseline | size (bytes) | ratio | pareto | verdict |',
    '| --- | ---: | ---: | ---: | ---: | :---: | --- |',
    ...sweep.variants.map(
      (v) =>
        `| ${cell(v.name)} | ${sweepQuality(v)} | ${v.accuracyDrop === undefined ? '' : signed(-v.accuracyDrop)} | ${v.sizeBytes ?? ''} | ${v.ratio === undefined ? '' : `${v.ratio.toFixed(2)}x`} | ${v.pareto ? '★' : ''} | ${v.verdict === 'pass' ? '✅ PASS' : v.error ? '❌ ERROR' : '❌ FAIL'} |`,
    ),
    ...sweep.variants.filter((v) => v.error).map((v) => `\n\`${cell(v.name)}\`: ${cell(v.error!)}`),
    '',
    `${passed}/${sweep.variants.length} variants pass; gate: ${sweep.gate}${sweep.best ? `; smallest passing: \`${cell(sweep.best)}\`` : ''} — recipe \`${cell(sweep.recipe.file)}\``,
    '',
  ].join('\n');
}

/** The job summary for a build (or a sweep and each variant's report). */
export function renderStepSummary(reports: readonly Report[], sweep?: Sweep): string {
  return [...(sweep ? [renderSweepMarkdown(sweep)] : []), ...reports.map(renderMarkdown)].join('\n');
}

/** Appends to the job summary file, creating it if missing. MCB_OUTPUT on failure. */
export async function appendStepSummary(file: string, markdown: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    await appendFile(file, `${markdown}\n`);
  } catch (e) {
    throw new McbError(
      'MCB_OUTPUT',
      `cannot append the build's summary to GITHUB_STEP_SUMMARY (${file}): ${(e as Error).message}. Unset GITHUB_STEP_SUMMARY or point it at a writable file.`,
      { cause: e },
    );
  }
}
