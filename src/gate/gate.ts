/**
 * The gate: a pure function of thresholds and metrics. Thresholds are in no step key, so editing one
 * re-gates from cached metrics in milliseconds.
 */
import type { Metrics } from '../metrics/index.js';
import type { Thresholds } from '../recipe/index.js';
import { formatBytes } from '../util/bytes.js';

export interface Check {
  /** `accuracy.maxDrop`, as written in the recipe's `thresholds`. */
  name: string;
  pass: boolean;
  measured: number;
  limit: number;
  /** One line a person reads: what was measured against what. */
  text: string;
}

export interface Verdict {
  pass: boolean;
  checks: Check[];
}

/** Differences of accuracies are computed in floating point; a drop of exactly the limit must pass. */
const EPS = 1e-9;

export function gate(thresholds: Thresholds, baseline: Metrics, result: Metrics): Verdict {
  const checks: Check[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const a = thresholds.accuracy;
  if (a?.maxDrop !== undefined) {
    const drop = baseline.accuracy - result.accuracy;
    checks.push({
      name: 'accuracy.maxDrop',
      pass: drop <= a.maxDrop + EPS,
      measured: drop,
      limit: a.maxDrop,
      text: `accuracy dropped by ${pct(drop)} (baseline ${pct(baseline.accuracy)} → result ${pct(result.accuracy)}); limit ${pct(a.maxDrop)}`,
    });
  }
  if (a?.maxRelativeDrop !== undefined) {
    const rel = baseline.accuracy > 0 ? (baseline.accuracy - result.accuracy) / baseline.accuracy : 0;
    checks.push({
      name: 'accuracy.maxRelativeDrop',
      pass: rel <= a.maxRelativeDrop + EPS,
      measured: rel,
      limit: a.maxRelativeDrop,
      text: `accuracy dropped by ${pct(rel)} of the baseline (${pct(baseline.accuracy)} → ${pct(result.accuracy)}); limit ${pct(a.maxRelativeDrop)}`,
    });
  }
  if (a?.min !== undefined) {
    checks.push({
      name: 'accuracy.min',
      pass: result.accuracy + EPS >= a.min,
      measured: result.accuracy,
      limit: a.min,
      text: `accuracy is ${pct(result.accuracy)}; minimum ${pct(a.min)}`,
    });
  }
  const s = thresholds.size;
  if (s?.maxBytes !== undefined) {
    checks.push({
      name: 'size.maxBytes',
      pass: result.sizeBytes <= s.maxBytes,
      measured: result.sizeBytes,
      limit: s.maxBytes,
      text: `size is ${formatBytes(result.sizeBytes)} (${result.sizeBytes} bytes); limit ${formatBytes(s.maxBytes)} (${s.maxBytes} bytes)`,
    });
  }
  // Transfer sizes: the sum of each exported file compressed on its own, as a server sends them.
  for (const [option, key, what] of [
    ['maxGzipBytes', 'gzipBytes', 'gzip'],
    ['maxBrotliBytes', 'brotliBytes', 'brotli'],
  ] as const) {
    const limit = s?.[option];
    if (limit === undefined) continue;
    const measured = result[key];
    checks.push({
      name: `size.${option}`,
      pass: measured <= limit,
      measured,
      limit,
      text: `size with ${what} is ${formatBytes(measured)} (${measured} bytes, ${result.files.length} ${result.files.length === 1 ? 'file' : 'files'} compressed one by one); limit ${formatBytes(limit)} (${limit} bytes)`,
    });
  }
  if (s?.minRatio !== undefined) {
    const ratio = result.sizeBytes > 0 ? baseline.sizeBytes / result.sizeBytes : Number.POSITIVE_INFINITY;
    checks.push({
      name: 'size.minRatio',
      pass: ratio + EPS >= s.minRatio,
      measured: ratio,
      limit: s.minRatio,
      text: `compression ratio is ${ratio.toFixed(2)}x (${formatBytes(baseline.sizeBytes)} → ${formatBytes(result.sizeBytes)}); minimum ${s.minRatio}x`,
    });
  }
  return { pass: checks.every((c) => c.pass), checks };
}
