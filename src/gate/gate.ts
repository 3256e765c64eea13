/**
 * The gate: a pure function of thresholds and metrics. Thresholds are in no step key, so editing one
 * re-gates from cached metrics in milliseconds.
 *
 * One engine: every threshold becomes a rule (./check.ts) and every rule is judged the same way. Plain limits,
 * shorthand (`size.maxBytes`) or named (`metrics.sizeBytes.max`), are a named metric against a limit
 * (./limit.ts); the readings that need more than two numbers (significance tests, the worst class, latency
 * with its interval) are rules of their own.
 */
import type { Metrics } from '../metrics/index.js';
import type { LatencyComparison } from '../metrics/latency-compare.js';
import type { Thresholds } from '../recipe/index.js';
import type { Check, Evidence, Rule, Verdict } from './check.js';
import { latencyRules } from './latency.js';
import { metricRules } from './metric-checks.js';
import { shorthandRules } from './shorthand.js';

export function gate(thresholds: Thresholds, baseline: Metrics, result: Metrics, latency?: LatencyComparison): Verdict {
  const evidence: Evidence = { baseline, result, latency };
  const checks = rulesFor(thresholds, evidence).map((rule) => judge(rule, evidence));
  return { pass: checks.every((c) => c.pass), checks };
}

/** Every rule of the thresholds, in the order of their checks: the shorthand blocks, `metrics`, `latency`. */
export function rulesFor(thresholds: Thresholds, evidence: Evidence): Rule[] {
  return [
    ...shorthandRules(thresholds, evidence),
    ...(thresholds.metrics ? metricRules(thresholds.metrics) : []),
    ...(thresholds.latency ? latencyRules(thresholds.latency) : []),
  ];
}

function judge(rule: Rule, evidence: Evidence): Check {
  const { pass, measured, text } = rule.judge(evidence);
  return { name: rule.name, pass, measured, limit: rule.limit, text };
}
