/**
 * The gate: a pure function of thresholds and metrics. Thresholds are in no step key, so editing one
 * re-gates from cached metrics in milliseconds.
 */
import type { Metrics } from '../metrics/index.js';
import type { LatencyThreshold, Thresholds } from '../recipe/index.js';
import type { LatencyComparison } from '../metrics/latency-compare.js';
import { pairedBootstrap } from '../metrics/latency-compare.js';
import { median, percentile } from '../metrics/latency.js';
import { metricChecks } from './metric-checks.js';
import { significanceVerdict } from '../metrics/significance.js';
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

export function gate(thresholds: Thresholds, baseline: Metrics, result: Metrics, latency?: LatencyComparison): Verdict {
  const checks: Check[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  // Label-free eval data has no accuracy. The planner refuses accuracy thresholds with it, so this is only
  // reached re-gating such a build's metrics: each accuracy threshold then fails, saying why.
  const labelled = baseline.accuracy !== undefined && result.accuracy !== undefined;
  if (thresholds.accuracy && !labelled) checks.push(...unlabelledChecks(thresholds.accuracy));
  const a = labelled ? thresholds.accuracy : undefined;
  const [bAcc, rAcc] = [baseline.accuracy ?? Number.NaN, result.accuracy ?? Number.NaN];
  if (a?.maxDrop !== undefined && a.significance) {
    checks.push(significanceCheck(a.maxDrop, a.significance, baseline, result));
  } else if (a?.maxDrop !== undefined) {
    const drop = bAcc - rAcc;
    checks.push({
      name: 'accuracy.maxDrop',
      pass: drop <= a.maxDrop + EPS,
      measured: drop,
      limit: a.maxDrop,
      text: `accuracy dropped by ${pct(drop)} (baseline ${pct(bAcc)} → result ${pct(rAcc)}); limit ${pct(a.maxDrop)}`,
    });
  }
  if (a?.maxRelativeDrop !== undefined) {
    const rel = bAcc > 0 ? (bAcc - rAcc) / bAcc : 0;
    checks.push({
      name: 'accuracy.maxRelativeDrop',
      pass: rel <= a.maxRelativeDrop + EPS,
      measured: rel,
      limit: a.maxRelativeDrop,
      text: `accuracy dropped by ${pct(rel)} of the baseline (${pct(bAcc)} → ${pct(rAcc)}); limit ${pct(a.maxRelativeDrop)}`,
    });
  }
  if (a?.min !== undefined) {
    checks.push({
      name: 'accuracy.min',
      pass: rAcc + EPS >= a.min,
      measured: rAcc,
      limit: a.min,
      text: `accuracy is ${pct(rAcc)}; minimum ${pct(a.min)}`,
    });
  }
  if (a?.topKMaxDrop !== undefined) {
    const [b, r] = [baseline.topK, result.topK];
    const drop = b && r ? b.accuracy - r.accuracy : Number.NaN;
    checks.push({
      name: 'accuracy.topKMaxDrop',
      pass: b !== undefined && r !== undefined && drop <= a.topKMaxDrop + EPS,
      measured: drop,
      limit: a.topKMaxDrop,
      text:
        b && r
          ? `top-${r.k} accuracy dropped by ${pct(drop)} (${pct(b.accuracy)} → ${pct(r.accuracy)}); limit ${pct(a.topKMaxDrop)}`
          : 'top-k accuracy was not measured (2 classes, or an evaluation from before mcbuild measured it); rebuild or remove the threshold',
    });
  }
  if (a?.perClassMaxDrop !== undefined) {
    // The class whose accuracy fell most, against the baseline's accuracy on that same class.
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
    checks.push({
      name: 'accuracy.perClassMaxDrop',
      pass: worst !== undefined && worst.drop <= a.perClassMaxDrop + EPS,
      measured: worst?.drop ?? Number.NaN,
      limit: a.perClassMaxDrop,
      text: worst
        ? `the worst class, ${worst.cls}, dropped by ${pct(worst.drop)} (${pct(worst.from)} → ${pct(worst.to)} of ${worst.count} samples); limit ${pct(a.perClassMaxDrop)} for every class`
        : 'per-class accuracy was not measured (an evaluation from before mcbuild measured it); rebuild or remove the threshold',
    });
  }
  const f = thresholds.fidelity;
  if (f?.minAgreement !== undefined) {
    const agreement = result.fidelity?.agreement;
    checks.push({
      name: 'fidelity.minAgreement',
      pass: agreement !== undefined && agreement + EPS >= f.minAgreement,
      measured: agreement ?? Number.NaN,
      limit: f.minAgreement,
      text:
        agreement !== undefined
          ? `the result predicts the baseline's class on ${pct(agreement)} of the samples; minimum ${pct(f.minAgreement)}`
          : 'fidelity was not measured (an evaluation from before mcbuild measured it); rebuild or remove the threshold',
    });
  }
  if (f?.maxMeanKl !== undefined) {
    const kl = result.fidelity?.meanKl;
    checks.push({
      name: 'fidelity.maxMeanKl',
      pass: kl !== undefined && kl <= f.maxMeanKl + EPS,
      measured: kl ?? Number.NaN,
      limit: f.maxMeanKl,
      text:
        kl !== undefined
          ? `mean KL(baseline ‖ result) is ${kl.toExponential(3)} nats; limit ${f.maxMeanKl}`
          : 'fidelity was not measured (an evaluation from before mcbuild measured it); rebuild or remove the threshold',
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
  // Counts of the result model: parameters, non-zero parameters, MACs, FLOPs.
  for (const [key, what] of [
    ['params', 'parameters'],
    ['nonZeroParams', 'non-zero parameters'],
    ['macs', 'MACs per sample'],
    ['flops', 'FLOPs per sample'],
  ] as const) {
    const t = thresholds[key];
    if (!t) continue;
    const [b, r] = [baseline[key], result[key]];
    const count = (v: number) => v.toLocaleString('en-US');
    const missing = `${what} were not measured (a graph model has no topology to count, or the evaluation predates it); remove the threshold`;
    if (t.max !== undefined) {
      checks.push({
        name: `${key}.max`,
        pass: r !== undefined && r <= t.max,
        measured: r ?? Number.NaN,
        limit: t.max,
        text: r === undefined ? missing : `${count(r)} ${what}; limit ${count(t.max)}`,
      });
    }
    if (t.minRatio !== undefined) {
      const ratio = b !== undefined && r !== undefined ? (r > 0 ? b / r : Number.POSITIVE_INFINITY) : Number.NaN;
      checks.push({
        name: `${key}.minRatio`,
        pass: ratio + EPS >= t.minRatio,
        measured: ratio,
        limit: t.minRatio,
        text:
          b === undefined || r === undefined
            ? missing
            : `${ratio.toFixed(2)}x fewer ${what} (${count(b)} → ${count(r)}); minimum ${t.minRatio}x`,
      });
    }
  }
  if (thresholds.metrics) checks.push(...metricChecks(thresholds.metrics, baseline, result));
  if (thresholds.latency) checks.push(...latencyChecks(thresholds.latency, latency));
  return { pass: checks.every((c) => c.pass), checks };
}

/**
 * Latency thresholds read the interleaved timing of the latency step only: the eval steps' latencies were
 * measured at different moments and a gate on them would pass or fail with the machine's load.
 */
function latencyChecks(t: LatencyThreshold, cmp: LatencyComparison | undefined): Check[] {
  const q = t.percentile ?? 50;
  const b =
    cmp &&
    (t.batchSize !== undefined
      ? cmp.batches.find((x) => x.batchSize === t.batchSize)
      : (cmp.batches.find((x) => x.batchSize === 1) ?? cmp.batches[0]));
  const checks: Check[] = [];
  const missing = (name: string, limit: number): Check => ({
    name,
    pass: false,
    measured: Number.NaN,
    limit,
    text: `baseline and result were not timed side by side${t.batchSize !== undefined ? ` at batch ${t.batchSize}` : ''}; rebuild (the latency step runs when a latency threshold is set)`,
  });
  const ms = (v: number) => `${v.toFixed(v < 10 ? 3 : 1)} ms`;
  const stat = q === 95 ? 'p95' : 'median';
  if (t.minRatio !== undefined) {
    if (!b) checks.push(missing('latency.minRatio', t.minRatio));
    else {
      const [bt, rt] = q === 95 ? [b.baseline.p95Ms, b.result.p95Ms] : [b.baseline.medianMs, b.result.medianMs];
      const ratio = q === 95 ? b.p95Ratio : b.ratio;
      const sig = t.significance;
      const level = sig?.level ?? cmp!.level;
      // The interval is recomputed from the kept samples (seeded, so the same every time): the threshold's
      // level is not in the latency step's key, so the stored 95% interval may not be the one asked for.
      const statOf = (v: readonly number[]) => (q === 95 ? percentile(v, 0.95) : median(v));
      // One pair has nothing to resample: its "interval" is the point estimate, which would let `strict`
      // claim a speed-up shown at any level. No interval is known: [0, ∞) (significant passes, strict fails).
      const single = b.baseline.samplesMs.length < 2;
      const [lo, hi] = single
        ? [0, Number.POSITIVE_INFINITY]
        : pairedBootstrap(
            b.baseline.samplesMs,
            b.result.samplesMs,
            (x, y) => statOf(x) / statOf(y),
            level,
            cmp!.resamples,
          );
      const reading = sig?.reading ?? 'significant';
      const pass = !sig
        ? ratio + EPS >= t.minRatio
        : reading === 'significant'
          ? hi + EPS >= t.minRatio
          : lo + EPS >= t.minRatio;
      const speed = (r: number) => (r >= 1 ? `${r.toFixed(2)}x faster` : `${(1 / r).toFixed(2)}x slower`);
      const judged = !sig
        ? ''
        : reading === 'significant'
          ? ` (judged on the interval: ${pass ? 'not shown' : 'shown'} to be below the limit at ${level * 100}%)`
          : ` (judged strictly on the interval: ${pass ? 'shown' : 'not shown'} to be within the limit at ${level * 100}%)`;
      checks.push({
        name: 'latency.minRatio',
        pass,
        measured: ratio,
        limit: t.minRatio,
        text: `at batch ${b.batchSize} the result is ${speed(ratio)} than the baseline (${stat} ${ms(rt)} vs ${ms(bt)}, ${b.runs} interleaved pair${b.runs === 1 ? '' : 's'}; ${single ? 'no interval from a single pair: set runtime.latency.runs to 20 or more' : `${level * 100}% interval ${lo.toFixed(2)}–${hi.toFixed(2)}x`})${judged}; minimum speed-up ${t.minRatio}x`,
      });
    }
  }
  if (t.maxMs !== undefined) {
    if (!b) checks.push(missing('latency.maxMs', t.maxMs));
    else {
      const v = q === 95 ? b.result.p95Ms : b.result.medianMs;
      checks.push({
        name: 'latency.maxMs',
        pass: v <= t.maxMs + EPS,
        measured: v,
        limit: t.maxMs,
        text: `the result's ${stat} at batch ${b.batchSize} is ${ms(v)} (${b.runs} runs, timed beside the baseline's ${ms(q === 95 ? b.baseline.p95Ms : b.baseline.medianMs)}); limit ${ms(t.maxMs)} on this machine`,
      });
    }
  }
  return checks;
}

/** One failing check per accuracy threshold, for metrics measured on label-free data. */
function unlabelledChecks(a: NonNullable<Thresholds['accuracy']>): Check[] {
  return Object.entries(a)
    .filter(([key, limit]) => key !== 'significance' && typeof limit === 'number')
    .map(([key, limit]) => ({
      name: `accuracy.${key}`,
      pass: false,
      measured: Number.NaN,
      limit: limit as number,
      text: 'accuracy was not measured: the eval data has no labels; gate on fidelity to the baseline (fidelity.minAgreement, fidelity.maxMeanKl) instead',
    }));
}

/**
 * accuracy.maxDrop judged on the paired outcomes: the counts of samples only the baseline and only the result
 * get right are all McNemar's test and the paired bootstrap depend on, so they are rebuilt as outcome vectors.
 */
function significanceCheck(
  maxDrop: number,
  sig: NonNullable<NonNullable<Thresholds['accuracy']>['significance']>,
  baseline: Metrics,
  result: Metrics,
): Check {
  const drop = (baseline.accuracy ?? Number.NaN) - (result.accuracy ?? Number.NaN);
  const p = result.paired;
  if (!p) {
    return {
      name: 'accuracy.maxDrop',
      pass: false,
      measured: drop,
      limit: maxDrop,
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
  return { name: 'accuracy.maxDrop', pass: v.pass, measured: drop, limit: maxDrop, text: v.text };
}
