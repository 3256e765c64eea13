/**
 * The accuracy readings that need more than two numbers: maxDrop judged by a significance test on the paired
 * outcomes, the drop of the worst class against the baseline on that same class, and every accuracy limit
 * on label-free data (which has no accuracy to read).
 */
import type { Metrics } from '../metrics/index.js';
import { significanceVerdict } from '../metrics/significance.js';
import type { Thresholds } from '../recipe/index.js';
import { EPS, pct, type Rule } from './check.js';

type AccuracyThresholds = NonNullable<Thresholds['accuracy']>;
type Significance = NonNullable<AccuracyThresholds['significance']>;

/** Whether both sides were measured on labelled data: else no accuracy limit can be read. */
export function labelled(baseline: Metrics, result: Metrics): boolean {
  return baseline.accuracy !== undefined && result.accuracy !== undefined;
}

/**
 * One failing rule per accuracy limit, in the recipe's order, for metrics measured on label-free data. The
 * planner refuses accuracy thresholds with such data, so this is only reached re-gating such a build's metrics.
 */
export function unlabelledRules(a: AccuracyThresholds): Rule[] {
  return Object.entries(a)
    .filter(([key, limit]) => key !== 'significance' && typeof limit === 'number')
    .map(([key, limit]) => ({
      name: `accuracy.${key}`,
      limit: limit as number,
      judge: () => ({
        pass: false,
        measured: Number.NaN,
        text: 'accuracy was not measured: the eval data has no labels; gate on fidelity to the baseline (fidelity.minAgreement, fidelity.maxMeanKl) instead',
      }),
    }));
}

/**
 * accuracy.maxDrop judged on the paired outcomes: the counts of samples only the baseline and only the result
 * get right are all McNemar's test and the paired bootstrap depend on, so they are rebuilt as outcome vectors.
 */
export function significanceRule(maxDrop: number, sig: Significance): Rule {
  return {
    name: 'accuracy.maxDrop',
    limit: maxDrop,
    judge({ baseline, result }) {
      const drop = (baseline.accuracy ?? Number.NaN) - (result.accuracy ?? Number.NaN);
      const p = result.paired;
      if (!p) {
        return {
          pass: false,
          measured: drop,
          text: 'the paired outcomes a significance test needs were not measured (an evaluation from before mcbuild kept them); rebuild',
        };
      }
      const base = new Uint8Array(p.count);
      const res = new Uint8Array(p.count);
      // Samples both get right, then those only the baseline gets right, then those only the result does; the
      // order does not matter to either test, and the vectors reproduce both accuracies.
      const both = Math.max(0, (baseline.correct ?? 0) - p.baselineOnly);
      base.fill(1, 0, both + p.baselineOnly);
      res.fill(1, 0, both);
      res.fill(1, both + p.baselineOnly, both + p.baselineOnly + p.resultOnly);
      const v = significanceVerdict(base, res, {
        test: sig.test,
        level: sig.level ?? 0.95,
        maxDrop,
        reading: sig.reading ?? 'significant',
      });
      return { pass: v.pass, measured: drop, text: v.text };
    },
  };
}

/** accuracy.perClassMaxDrop: the class whose accuracy fell most, against the baseline's accuracy on that class. */
export function perClassRule(limit: number): Rule {
  return {
    name: 'accuracy.perClassMaxDrop',
    limit,
    judge({ baseline, result }) {
      const worst = (result.perClass ?? [])
        .map((r) => ({ r, b: baseline.perClass?.find((b) => b.class === r.class) }))
        .filter((x) => x.b && x.b.count > 0)
        .map((x) => ({
          cls: x.r.class,
          drop: x.b!.accuracy - x.r.accuracy,
          from: x.b!.accuracy,
          to: x.r.accuracy,
          count: x.r.count,
        }))
        .sort((x, y) => y.drop - x.drop || x.cls - y.cls)[0];
      return {
        pass: worst !== undefined && worst.drop <= limit + EPS,
        measured: worst?.drop ?? Number.NaN,
        text: worst
          ? `the worst class, ${worst.cls}, dropped by ${pct(worst.drop)} (${pct(worst.from)} → ${pct(worst.to)} of ${worst.count} samples); limit ${pct(limit)} for every class`
          : 'per-class accuracy was not measured (an evaluation from before mcbuild measured it); rebuild or remove the threshold',
      };
    },
  };
}
