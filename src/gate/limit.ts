/**
 * The one comparison behind every plain limit, shorthand (`size.maxBytes`) or named (`metrics.sizeBytes.max`):
 * a named metric (src/metrics/named.ts) read from baseline and result, held against a limit of one of five
 * kinds. The two spellings differ only in their words; what is measured and what passes is the same.
 */
import { namedMetric, type MetricLimit } from '../metrics/named.js';
import { EPS, type Evidence, type Rule } from './check.js';

/** A limit's numbers, for its text. */
export interface Reading {
  /** The baseline's value (NaN when a `min`/`max` limit that reads the result alone finds none). */
  baseline: number;
  result: number;
  /** What is held against the limit: the value, the drop or the ratio. */
  measured: number;
  limit: number;
}

export interface LimitSpec {
  /** The check's name, as the recipe writes the limit. */
  name: string;
  /** A name in the table of named metrics. */
  metric: string;
  kind: MetricLimit;
  limit: number;
  /**
   * Whether a limit that reads the result alone (`min`, `max`) still wants the baseline measured. The named
   * limits do (a metric either side lacks is "not measured"); the shorthand blocks do not.
   */
  needsBaseline?: boolean;
  say(v: Reading, e: Evidence): string;
  /** The text when the metric was not measured (the check then fails with measured NaN), or how to say why. */
  missing: string | ((e: Evidence) => string);
}

/** What a limit of `kind` measures of the baseline and result values, and whether it holds. */
export function measure(kind: MetricLimit, b: number, r: number, limit: number): { measured: number; pass: boolean } {
  switch (kind) {
    case 'min':
      return { measured: r, pass: r + EPS >= limit };
    case 'max':
      return { measured: r, pass: r <= limit + EPS };
    case 'maxDrop': {
      const drop = b - r;
      return { measured: drop, pass: drop <= limit + EPS };
    }
    case 'maxRelativeDrop': {
      const rel = b > 0 ? (b - r) / b : 0;
      return { measured: rel, pass: rel <= limit + EPS };
    }
    case 'minRatio': {
      const ratio = r > 0 ? b / r : Number.POSITIVE_INFINITY;
      return { measured: ratio, pass: ratio + EPS >= limit };
    }
  }
}

/** The rule that judges one plain limit. */
export function limitRule(spec: LimitSpec): Rule {
  const metric = namedMetric(spec.metric);
  if (!metric) throw new Error(`unknown metric ${spec.metric}`); // the schema and the loader refuse it first
  const readsBaseline = spec.needsBaseline === true || (spec.kind !== 'min' && spec.kind !== 'max');
  return {
    name: spec.name,
    limit: spec.limit,
    judge(e) {
      // A measure of the result against the baseline (fidelity) has the baseline's value by definition.
      const b = metric.baselineValue ?? metric.read(e.baseline);
      const r = metric.read(e.result);
      if (r === undefined || (readsBaseline && b === undefined)) {
        const text = typeof spec.missing === 'string' ? spec.missing : spec.missing(e);
        return { pass: false, measured: Number.NaN, text };
      }
      const baseline = b ?? Number.NaN;
      const { measured, pass } = measure(spec.kind, baseline, r, spec.limit);
      return { pass, measured, text: spec.say({ baseline, result: r, measured, limit: spec.limit }, e) };
    },
  };
}
