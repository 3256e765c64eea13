/**
 * `thresholds.metrics.<name>.<limit>`: one vocabulary of limits for every named metric (src/metrics/named.ts),
 * as rules of the one limit comparison (./limit.ts) with words made from the metric's unit. Pure, like the
 * rest of the gate.
 */
import { METRIC_LIMITS, namedMetric, type MetricLimit, type NamedMetric } from '../metrics/named.js';
import { formatBytes } from '../util/bytes.js';
import type { Rule } from './check.js';
import { limitRule, type Reading } from './limit.js';
import { withThousands } from '../util/text.js';

export type MetricLimits = Partial<Record<MetricLimit, number>>;

/** The rules of `thresholds.metrics`: per metric in the recipe's order, its limits in METRIC_LIMITS order. */
export function metricRules(limits: Readonly<Record<string, MetricLimits>>): Rule[] {
  const rules: Rule[] = [];
  for (const [name, set] of Object.entries(limits)) {
    const metric = namedMetric(name);
    if (!metric) throw new Error(`unknown metric ${name}`); // the schema and the loader refuse it first
    for (const kind of METRIC_LIMITS) {
      const limit = set[kind];
      if (limit === undefined) continue;
      rules.push(
        limitRule({
          name: `metrics.${name}.${kind}`,
          metric: name,
          kind,
          limit,
          needsBaseline: true,
          say: (v) => say(metric, kind, v),
          missing: `${name} (${metric.description}) was not measured ${notMeasuredWhy(name)}; remove the threshold or rebuild`,
        }),
      );
    }
  }
  return rules;
}

function say(metric: NamedMetric, kind: MetricLimit, { baseline: b, result: r, measured, limit: l }: Reading): string {
  const name = metric.name;
  const show = (v: number) => formatValue(metric, v);
  switch (kind) {
    case 'min':
      return `${name} is ${show(r)}; minimum ${show(l)}`;
    case 'max':
      return `${name} is ${show(r)}; maximum ${show(l)}`;
    case 'maxDrop':
      return `${name} dropped by ${showDelta(metric, measured)} (${show(b)} → ${show(r)}); limit ${showDelta(metric, l)}`;
    case 'maxRelativeDrop':
      return `${name} dropped by ${(measured * 100).toFixed(2)}% of the baseline (${show(b)} → ${show(r)}); limit ${(l * 100).toFixed(2)}%`;
    case 'minRatio':
      return `${name} is ${measured.toFixed(2)}x smaller than the baseline's (${show(b)} → ${show(r)}); minimum ${l}x`;
  }
}

function formatValue(metric: NamedMetric, v: number): string {
  switch (metric.unit) {
    case 'fraction':
      return `${(v * 100).toFixed(2)}%`;
    case 'bytes':
      return `${formatBytes(v)} (${Math.round(v)} bytes)`;
    case 'count':
      return withThousands(Math.round(v));
    case 'nats':
      return `${v.toExponential(3)} nats`;
    case 'similarity':
      return v.toFixed(4);
    case 'relative':
      return v.toExponential(3);
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
