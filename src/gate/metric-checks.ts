/**
 * `thresholds.metrics.<name>.<limit>`: one vocabulary of limits for every named metric (src/metrics/named.ts),
 * beside the shorthand blocks (`accuracy`, `size`, …) that also carry special readings (significance, per
 * class). Pure, like the rest of the gate.
 */
import type { Metrics } from '../metrics/index.js';
import { namedMetric, type MetricLimit, type NamedMetric } from '../metrics/named.js';
import { formatBytes } from '../util/bytes.js';
import type { Check } from './gate.js';

/** Differences of floating-point metrics: a value exactly at the limit must pass. */
const EPS = 1e-9;

export type MetricLimits = Partial<Record<MetricLimit, number>>;

export function metricChecks(
  limits: Readonly<Record<string, MetricLimits>>,
  baseline: Metrics,
  result: Metrics,
): Check[] {
  const checks: Check[] = [];
  for (const [name, set] of Object.entries(limits)) {
    const metric = namedMetric(name);
    if (!metric) throw new Error(`unknown metric ${name}`); // the schema and the loader refuse it first
    const b = metric.baselineValue ?? metric.read(baseline);
    const r = metric.read(result);
    const show = (v: number) => formatValue(metric, v);
    for (const limit of ['min', 'max', 'maxDrop', 'maxRelativeDrop', 'minRatio'] as const) {
      const l = set[limit];
      if (l === undefined) continue;
      const checkName = `metrics.${name}.${limit}`;
      if (r === undefined || b === undefined) {
        checks.push({
          name: checkName,
          pass: false,
          measured: Number.NaN,
          limit: l,
          text: `${name} (${metric.description}) was not measured ${notMeasuredWhy(name)}; remove the threshold or rebuild`,
        });
        continue;
      }
      switch (limit) {
        case 'min':
          checks.push({
            name: checkName,
            pass: r + EPS >= l,
            measured: r,
            limit: l,
            text: `${name} is ${show(r)}; minimum ${show(l)}`,
          });
          break;
        case 'max':
          checks.push({
            name: checkName,
            pass: r <= l + EPS,
            measured: r,
            limit: l,
            text: `${name} is ${show(r)}; maximum ${show(l)}`,
          });
          break;
        case 'maxDrop': {
          const drop = b - r;
          checks.push({
            name: checkName,
            pass: drop <= l + EPS,
            measured: drop,
            limit: l,
            text: `${name} dropped by ${showDelta(metric, drop)} (${show(b)} → ${show(r)}); limit ${showDelta(metric, l)}`,
          });
          break;
        }
        case 'maxRelativeDrop': {
          const rel = b > 0 ? (b - r) / b : 0;
          checks.push({
            name: checkName,
            pass: rel <= l + EPS,
            measured: rel,
            limit: l,
            text: `${name} dropped by ${(rel * 100).toFixed(2)}% of the baseline (${show(b)} → ${show(r)}); limit ${(l * 100).toFixed(2)}%`,
          });
          break;
        }
        case 'minRatio': {
          const ratio = r > 0 ? b / r : Number.POSITIVE_INFINITY;
          checks.push({
            name: checkName,
            pass: ratio + EPS >= l,
            measured: ratio,
            limit: l,
            text: `${name} is ${ratio.toFixed(2)}x smaller than the baseline's (${show(b)} → ${show(r)}); minimum ${l}x`,
          });
          break;
        }
      }
    }
  }
  return checks;
}

function formatValue(metric: NamedMetric, v: number): string {
  switch (metric.unit) {
    case 'fraction':
      return `${(v * 100).toFixed(2)}%`;
    case 'bytes':
      return `${formatBytes(v)} (${Math.round(v)} bytes)`;
    case 'count':
      return Math.round(v).toLocaleString('en-US');
    case 'nats':
      return `${v.toExponential(3)} nats`;
  }
}

function showDelta(metric: NamedMetric, v: number): string {
  return metric.unit === 'fraction' ? `${(v * 100).toFixed(2)} pt` : formatValue(metric, v);
}

function notMeasuredWhy(name: string): string {
  switch (name) {
    case 'macs':
    case 'flops':
      return '(a graph model has no topology to count, or a layer class mcbuild cannot count)';
    case 'accuracy':
    case 'topKAccuracy':
    case 'worstClassAccuracy':
      return '(data without labels, 2 classes for top-k, or an evaluation from before mcbuild measured it)';
    default:
      return '(an evaluation from before mcbuild measured it)';
  }
}
