/**
 * A matrix sweep's summary: each variant's verdict and headline numbers, and the Pareto front of size
 * against accuracy (the variants no other variant beats on both). Written as sweep.json beside the variants'
 * folders and printed as a table. Like report.json it holds no timestamps or absolute paths.
 */
import type { Report } from './json.js';
import { formatBytes } from '../util/bytes.js';

/** The sweep's summary, written in the folder above the variants' folders. */
export const SWEEP_FILE = 'sweep.json';

export interface SweepVariant {
  name: string;
  values: Record<string, unknown>;
  /** The variant's output folder, relative to the sweep's folder. */
  folder: string;
  verdict: 'pass' | 'fail';
  /** The result's accuracy; absent with label-free eval data. */
  accuracy?: number;
  accuracyDrop?: number;
  /** The result's top-1 agreement with the baseline: the quality axis of the Pareto front for label-free data. */
  agreement?: number;
  /** Absent for a variant that stopped with an error. */
  sizeBytes?: number;
  ratio?: number;
  /** On the Pareto front of (smaller size, higher accuracy) among all variants. */
  pareto: boolean;
  /**
   * Why the variant has no result: a pass it was asked to run changed nothing (exit 2 for a build of that
   * variant alone). The sweep reports it and goes on; it counts as a failed variant.
   */
  error?: string;
}

export interface Sweep {
  generator: 'mcbuild';
  recipe: { name: string; file: string };
  matrix: Record<string, unknown[]>;
  gate: 'all' | 'best';
  variants: SweepVariant[];
  /** Names of the variants on the Pareto front, smallest first. */
  pareto: string[];
  /** Name of the smallest passing variant (the one `gate: best` stands on), if any passes. */
  best?: string;
  verdict: 'pass' | 'fail';
}

/**
 * Indices of the points no other point dominates: p dominates q when p is no larger and no less accurate,
 * and strictly better in one of the two. Ties (equal size and accuracy) are all kept.
 */
export function paretoFront(points: readonly { size: number; accuracy: number }[]): number[] {
  return points
    .map((p, i) => ({ p, i }))
    .filter(
      ({ p, i }) =>
        !points.some(
          (q, j) =>
            j !== i && q.size <= p.size && q.accuracy >= p.accuracy && (q.size < p.size || q.accuracy > p.accuracy),
        ),
    )
    .map(({ i }) => i);
}

export function summariseSweep(
  recipe: { name: string; file: string },
  matrix: Record<string, unknown[]>,
  gate: 'all' | 'best',
  variants: readonly ({ name: string; values: Record<string, unknown>; folder: string } & (
    { report: Report } | { error: string }
  ))[],
): Sweep {
  const rows = variants.map((v): SweepVariant => {
    if (!('report' in v))
      return {
        name: v.name,
        values: v.values,
        folder: v.folder,
        verdict: 'fail',
        pareto: false,
        error: v.error,
      };
    const { baseline: b, result: r } = v.report.metrics;
    const row: SweepVariant = {
      name: v.name,
      values: v.values,
      folder: v.folder,
      verdict: v.report.verdict,
      sizeBytes: r.sizeBytes,
      ratio: b.sizeBytes / Math.max(1, r.sizeBytes),
      pareto: false,
    };
    if (r.accuracy !== undefined && b.accuracy !== undefined)
      Object.assign(row, { accuracy: r.accuracy, accuracyDrop: b.accuracy - r.accuracy });
    if (r.fidelity?.agreement !== undefined) row.agreement = r.fidelity.agreement;
    return row;
  });
  // Label-free eval data has no accuracy: agreement with the baseline is the quality axis instead.
  const quality = (r: SweepVariant) => r.accuracy ?? r.agreement ?? 0;
  // Variants that stopped with an error have no size: they are not on the front.
  const built = rows.filter((r) => r.sizeBytes !== undefined);
  const front = new Set(paretoFront(built.map((r) => ({ size: r.sizeBytes!, accuracy: quality(r) }))));
  built.forEach((r, i) => (r.pareto = front.has(i)));
  const passing = built
    .filter((r) => r.verdict === 'pass')
    .sort((a, b) => a.sizeBytes! - b.sizeBytes! || quality(b) - quality(a));
  const pass = gate === 'best' ? passing.length > 0 : passing.length === rows.length;
  return {
    generator: 'mcbuild',
    recipe,
    matrix,
    gate,
    variants: rows,
    pareto: rows
      .filter((r) => r.pareto)
      .sort((a, b) => a.sizeBytes! - b.sizeBytes!)
      .map((r) => r.name),
    ...(passing[0] ? { best: passing[0].name } : {}),
    verdict: pass ? 'pass' : 'fail',
  };
}

type Styler = (style: 'green' | 'red' | 'bold', text: string) => string;

/** A variant's accuracy, or with label-free eval data its agreement with the baseline ("agree 99.50%"). */
export function sweepQuality(v: SweepVariant): string {
  if (v.accuracy !== undefined) return `${(v.accuracy * 100).toFixed(2)}%`;
  return v.agreement === undefined ? 'n/a' : `agree ${(v.agreement * 100).toFixed(2)}%`;
}

export function renderSweep(sweep: Sweep, style: Styler = (_s, t) => t): string {
  const head = ['variant', 'accuracy', 'vs baseline', 'size', 'ratio', 'pareto', 'verdict'];
  const signed = (x: number) => `${x > 0 ? '+' : x < 0 ? '-' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;
  const rows = sweep.variants.map((v) => [
    v.name,
    sweepQuality(v),
    v.accuracyDrop === undefined ? '' : signed(-v.accuracyDrop),
    v.sizeBytes === undefined ? '' : formatBytes(v.sizeBytes),
    v.ratio === undefined ? '' : `${v.ratio.toFixed(2)}x`,
    v.pareto ? '*' : '',
    v.verdict.toUpperCase(),
  ]);
  const widths = head.map((_, c) => Math.max(head[c]!.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const body = rows.map((r) => {
    const text = line(r);
    return r[6] === 'PASS'
      ? text.replace(/PASS$/, style('green', 'PASS'))
      : text.replace(/FAIL$/, style('red', 'FAIL'));
  });
  const passed = sweep.variants.filter((v) => v.verdict === 'pass').length;
  const rule =
    sweep.gate === 'best' ? 'gate: best (at least one variant must pass)' : 'gate: all (every variant must pass)';
  return [
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body,
    '* on the Pareto front of size against accuracy (no other variant is both smaller and more accurate)',
    ...sweep.variants.filter((v) => v.error).map((v) => `${v.name}: ${v.error!}`),
    '',
    `${passed}/${sweep.variants.length} variants pass; ${rule}${sweep.best ? `; smallest passing: ${sweep.best}` : ''}`,
    `sweep verdict: ${style('bold', sweep.verdict === 'pass' ? style('green', 'PASS') : style('red', 'FAIL'))}`,
  ].join('\n');
}
