/**
 * `thresholds.latency`: a speed-up with its interval, and an absolute time. They read the interleaved timing
 * of the latency step only: the eval steps' latencies were measured at different moments, and a gate on them
 * would pass or fail with the machine's load.
 */
import type { BatchComparison, LatencyComparison } from '../metrics/latency-compare.js';
import { pairedBootstrap } from '../metrics/latency-compare.js';
import { median, percentile } from '../metrics/latency.js';
import type { LatencyThreshold } from '../recipe/index.js';
import { EPS, type Judgement, type Rule } from './check.js';

const ms = (v: number) => `${v.toFixed(v < 10 ? 3 : 1)} ms`;

export function latencyRules(t: LatencyThreshold): Rule[] {
  const rules: Rule[] = [];
  if (t.minRatio !== undefined) rules.push(timed('latency.minRatio', t.minRatio, t, minRatio));
  if (t.maxMs !== undefined) rules.push(timed('latency.maxMs', t.maxMs, t, maxMs));
  return rules;
}

/** A rule on the batch size the threshold names (default: batch 1, else the first timed); fails when untimed. */
function timed(
  name: string,
  limit: number,
  t: LatencyThreshold,
  judge: (b: BatchComparison, cmp: LatencyComparison, t: LatencyThreshold, limit: number) => Judgement,
): Rule {
  return {
    name,
    limit,
    judge({ latency: cmp }) {
      const b =
        cmp &&
        (t.batchSize !== undefined
          ? cmp.batches.find((x) => x.batchSize === t.batchSize)
          : (cmp.batches.find((x) => x.batchSize === 1) ?? cmp.batches[0]));
      if (!cmp || !b) {
        return {
          pass: false,
          measured: Number.NaN,
          text: `baseline and result were not timed side by side${t.batchSize !== undefined ? ` at batch ${t.batchSize}` : ''}; rebuild (the latency step runs when a latency threshold is set)`,
        };
      }
      return judge(b, cmp, t, limit);
    },
  };
}

function minRatio(b: BatchComparison, cmp: LatencyComparison, t: LatencyThreshold, limit: number): Judgement {
  const q = t.percentile ?? 50;
  const stat = q === 95 ? 'p95' : 'median';
  const [bt, rt] = q === 95 ? [b.baseline.p95Ms, b.result.p95Ms] : [b.baseline.medianMs, b.result.medianMs];
  const ratio = q === 95 ? b.p95Ratio : b.ratio;
  const sig = t.significance;
  const level = sig?.level ?? cmp.level;
  // The interval is recomputed from the kept samples (seeded, so the same every time): the threshold's
  // level is not in the latency step's key, so the stored 95% interval may not be the one asked for.
  const statOf = (v: readonly number[]) => (q === 95 ? percentile(v, 0.95) : median(v));
  // One pair has nothing to resample: its "interval" is the point estimate, which would let `strict`
  // claim a speed-up shown at any level. No interval is known: [0, ∞) (significant passes, strict fails).
  const single = b.baseline.samplesMs.length < 2;
  const [lo, hi] = single
    ? [0, Number.POSITIVE_INFINITY]
    : pairedBootstrap(b.baseline.samplesMs, b.result.samplesMs, (x, y) => statOf(x) / statOf(y), level, cmp.resamples);
  const reading = sig?.reading ?? 'significant';
  const pass = !sig ? ratio + EPS >= limit : reading === 'significant' ? hi + EPS >= limit : lo + EPS >= limit;
  const speed = (r: number) => (r >= 1 ? `${r.toFixed(2)}x faster` : `${(1 / r).toFixed(2)}x slower`);
  const judged = !sig
    ? ''
    : reading === 'significant'
      ? ` (judged on the interval: ${pass ? 'not shown' : 'shown'} to be below the limit at ${level * 100}%)`
      : ` (judged strictly on the interval: ${pass ? 'shown' : 'not shown'} to be within the limit at ${level * 100}%)`;
  return {
    pass,
    measured: ratio,
    text: `at batch ${b.batchSize} the result is ${speed(ratio)} than the baseline (${stat} ${ms(rt)} vs ${ms(bt)}, ${b.runs} interleaved pair${b.runs === 1 ? '' : 's'}; ${single ? 'no interval from a single pair: set runtime.latency.runs to 20 or more' : `${level * 100}% interval ${lo.toFixed(2)}–${hi.toFixed(2)}x`})${judged}; minimum speed-up ${limit}x`,
  };
}

function maxMs(b: BatchComparison, _cmp: LatencyComparison, t: LatencyThreshold, limit: number): Judgement {
  const q = t.percentile ?? 50;
  const stat = q === 95 ? 'p95' : 'median';
  const v = q === 95 ? b.result.p95Ms : b.result.medianMs;
  return {
    pass: v <= limit + EPS,
    measured: v,
    text: `the result's ${stat} at batch ${b.batchSize} is ${ms(v)} (${b.runs} runs, timed beside the baseline's ${ms(q === 95 ? b.baseline.p95Ms : b.baseline.medianMs)}); limit ${ms(limit)} on this machine`,
  };
}
