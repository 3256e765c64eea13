/**
 * Two reports side by side (`mcbuild report A B`, or a recipe's last two builds): the change of every metric
 * both measured, and which thresholds changed verdict. Pure; the CLI renders it as a table or JSON.
 */
import { formatBytes } from '../util/bytes.js';
import type { Report } from './json.js';
import { withThousands } from '../util/text.js';

export interface MetricChange {
  metric: string;
  before?: number;
  after?: number;
  /** after − before; undefined when either side lacks the metric. */
  delta?: number;
  /** How to show the values: a fraction, bytes, a count, milliseconds or nats. */
  unit: 'fraction' | 'bytes' | 'count' | 'ms' | 'nats';
}

export interface ReportComparison {
  before: { recipe: string; verdict: string; variant?: string };
  after: { recipe: string; verdict: string; variant?: string };
  /** Metrics of the result models (the baselines are listed when they differ: a different baseline makes a different comparison). */
  metrics: MetricChange[];
  baselineChanged: boolean;
  thresholds: { name: string; before?: boolean; after?: boolean }[];
}

type Getter = [string, MetricChange['unit'], (r: Report['metrics']['result']) => number | undefined];

const METRICS: Getter[] = [
  ['accuracy', 'fraction', (m) => m.accuracy],
  ['top-k accuracy', 'fraction', (m) => m.topK?.accuracy],
  ['agreement with baseline', 'fraction', (m) => m.fidelity?.agreement],
  ['mean KL to baseline', 'nats', (m) => m.fidelity?.meanKl],
  ['size', 'bytes', (m) => m.sizeBytes],
  ['size (gzip)', 'bytes', (m) => m.gzipBytes],
  ['size (brotli)', 'bytes', (m) => m.brotliBytes],
  ['params', 'count', (m) => m.params],
  ['non-zero params', 'count', (m) => m.nonZeroParams],
  ['MACs', 'count', (m) => m.macs],
  ['FLOPs', 'count', (m) => m.flops],
  ['latency b1', 'ms', (m) => m.latency?.batch1Ms],
  ['latency b32', 'ms', (m) => m.latency?.batch32Ms],
];

export function compareReports(before: Report, after: Report): ReportComparison {
  const metrics = METRICS.map(([metric, unit, get]): MetricChange => {
    const [b, a] = [get(before.metrics.result), get(after.metrics.result)];
    return {
      metric,
      unit,
      ...(b === undefined ? {} : { before: b }),
      ...(a === undefined ? {} : { after: a }),
      ...(a !== undefined && b !== undefined ? { delta: a - b } : {}),
    };
  }).filter((m) => m.before !== undefined || m.after !== undefined);
  const names = [...new Set([...before.thresholds.map((c) => c.name), ...after.thresholds.map((c) => c.name)])];
  const side = (r: Report) => ({
    recipe: r.recipe.name,
    verdict: r.verdict,
    ...(r.variant ? { variant: r.variant.name } : {}),
  });
  return {
    before: side(before),
    after: side(after),
    metrics,
    baselineChanged:
      before.metrics.baseline.accuracy !== after.metrics.baseline.accuracy ||
      before.metrics.baseline.sizeBytes !== after.metrics.baseline.sizeBytes,
    thresholds: names.map((name) => {
      const [b, a] = [before.thresholds.find((c) => c.name === name), after.thresholds.find((c) => c.name === name)];
      return { name, ...(b ? { before: b.pass } : {}), ...(a ? { after: a.pass } : {}) };
    }),
  };
}

export function renderComparison(c: ReportComparison, labels: [string, string]): string {
  const show = (v: number | undefined, unit: MetricChange['unit']): string => {
    if (v === undefined) return 'n/a';
    switch (unit) {
      case 'fraction':
        return `${(v * 100).toFixed(2)}%`;
      case 'bytes':
        return formatBytes(v);
      case 'count':
        return withThousands(v);
      case 'ms':
        return `${v.toFixed(2)} ms`;
      case 'nats':
        return v.toExponential(2);
    }
  };
  const change = (m: MetricChange): string => {
    if (m.delta === undefined) return '';
    if (m.delta === 0) return '±0';
    const sign = m.delta > 0 ? '+' : '-';
    const abs = Math.abs(m.delta);
    if (m.unit === 'fraction') return `${sign}${(abs * 100).toFixed(2)} pp`;
    const ratio = m.before ? ` (${(m.after! / m.before).toFixed(2)}x)` : '';
    return `${sign}${show(abs, m.unit)}${ratio}`;
  };
  const rows = [
    ['metric (result)', labels[0], labels[1], 'change'],
    ...c.metrics.map((m) => [m.metric, show(m.before, m.unit), show(m.after, m.unit), change(m)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const verdict = (v: boolean | undefined) => (v === undefined ? 'absent' : v ? 'PASS' : 'FAIL');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  if (c.baselineChanged)
    out.push(
      '',
      'note: the baselines differ (accuracy or size), so the results were measured against different references.',
    );
  const changed = c.thresholds.filter((t) => t.before !== t.after);
  out.push(
    '',
    changed.length ? 'thresholds that changed:' : `thresholds: no verdict changed (${c.thresholds.length} compared)`,
  );
  for (const t of changed) out.push(`  ${t.name}: ${verdict(t.before)} → ${verdict(t.after)}`);
  out.push('', `verdict: ${c.before.verdict.toUpperCase()} → ${c.after.verdict.toUpperCase()}`);
  return out.join('\n');
}
