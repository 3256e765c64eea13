/**
 * Baseline and result timed interleaved in one run, for latency gates. Two eval steps measure latency at
 * different moments (often hours apart, a cached one days apart), and on a shared machine the load in
 * between moves absolute times by more than most compressions change them. Timing both models turn about
 * on the same inputs makes the drift hit both alike, so their ratio is what a gate can trust.
 *
 * Order: pairs alternate ABBA (baseline first in even pairs, result first in odd ones), so neither model
 * always runs second on warm caches. The ratio is baseline median / result median (above 1: the result is
 * faster), with a paired bootstrap interval over the pairs: resampling whole pairs keeps what the two
 * passes of one pair share (the machine's load at that moment).
 */
import { availableParallelism, cpus } from 'node:os';
import type { Dataset } from '../data/index.js';
import type { InferenceModel, Tf } from '../engine/runtime.js';
import { mulberry32 } from '../util/random.js';
import { batchSizesFor, median, percentile, sampleBatch, timedPass, WARMUP_RUNS } from './latency.js';

export interface TimedSide {
  medianMs: number;
  p95Ms: number;
  minMs: number;
  /** Every timed pass in run order (pair i of the baseline with pair i of the result). */
  samplesMs: number[];
}

export interface BatchComparison {
  batchSize: number;
  /** Timed pairs. */
  runs: number;
  baseline: TimedSide;
  result: TimedSide;
  /** Baseline median / result median: the speed-up (above 1 the result is faster). */
  ratio: number;
  /** Baseline p95 / result p95: the speed-up of the slow tail. */
  p95Ratio: number;
  /** Paired bootstrap interval of `ratio` at `level`. */
  interval: [number, number];
  /** Paired bootstrap interval of `p95Ratio` at `level`. */
  p95Interval: [number, number];
}

export interface LatencyComparison {
  order: 'ABBA';
  batches: BatchComparison[];
  warmupRuns: number;
  /** Confidence level of the intervals. */
  level: number;
  resamples: number;
  backend: string;
  /** When it was measured (ISO 8601): the step is cached like any other. */
  measuredAt: string;
  cores: number;
  cpu: string;
}

/** Pairs timed at least, more while the budget lasts, at most MAX_PAIRS (per batch size). */
export const MIN_PAIRS = 20;
export const MAX_PAIRS = 200;
/** Milliseconds of timed passes (both models) per batch size before stopping, once MIN_PAIRS are done. */
export const PAIR_BUDGET_MS = 1000;
export const LEVEL = 0.95;
export const RESAMPLES = 2000;
/** The bootstrap's generator is seeded: the same timings give the same interval. */
const BOOTSTRAP_SEED = 0x1a7e;

export interface CompareOptions {
  batchSizes?: number[];
  /** Exactly this many pairs per batch size (no time budget). */
  runs?: number;
  warmup?: number;
  signal?: AbortSignal;
}

export async function compareLatency(
  tf: Tf,
  baseline: InferenceModel,
  result: InferenceModel,
  ds: Dataset,
  backend: string,
  opts: CompareOptions = {},
): Promise<LatencyComparison> {
  const warmup = opts.warmup ?? WARMUP_RUNS;
  const batches: BatchComparison[] = [];
  for (const batchSize of batchSizesFor(baseline, opts.batchSizes)) {
    const x = sampleBatch(tf, ds, batchSize, baseline.inputDtype);
    try {
      const pass = (model: InferenceModel) => timedPass(model, x);
      // At least one warm-up each: the first pass at a new shape allocates and (on some backends) compiles.
      for (let i = 0; i < Math.max(1, warmup); i++) {
        await pass(baseline);
        await pass(result);
      }
      const b: number[] = [];
      const r: number[] = [];
      let spent = 0;
      const more = () =>
        opts.runs !== undefined
          ? b.length < opts.runs
          : b.length < MAX_PAIRS && (b.length < MIN_PAIRS || spent < PAIR_BUDGET_MS);
      while (more()) {
        if (opts.signal?.aborted) break;
        const baselineFirst = b.length % 2 === 0;
        const first = await pass(baselineFirst ? baseline : result);
        const second = await pass(baselineFirst ? result : baseline);
        b.push(baselineFirst ? first : second);
        r.push(baselineFirst ? second : first);
        spent += first + second;
      }
      batches.push(summarisePairs(batchSize, b, r));
    } finally {
      x.dispose();
    }
  }
  return {
    order: 'ABBA',
    batches,
    warmupRuns: Math.max(1, warmup),
    level: LEVEL,
    resamples: RESAMPLES,
    backend,
    measuredAt: new Date().toISOString(),
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
  };
}

/** The ratios and their paired bootstrap intervals from the timed pairs (pure: tested on known timings). */
export function summarisePairs(
  batchSize: number,
  baselineMs: readonly number[],
  resultMs: readonly number[],
  level = LEVEL,
  resamples = RESAMPLES,
): BatchComparison {
  const side = (v: readonly number[]): TimedSide => ({
    medianMs: median(v),
    p95Ms: percentile(v, 0.95),
    minMs: Math.min(...v),
    samplesMs: [...v],
  });
  const ratioOf = (stat: (v: readonly number[]) => number) => (bs: readonly number[], rs: readonly number[]) =>
    stat(bs) / stat(rs);
  const p95 = (v: readonly number[]) => percentile(v, 0.95);
  return {
    batchSize,
    runs: baselineMs.length,
    baseline: side(baselineMs),
    result: side(resultMs),
    ratio: median(baselineMs) / median(resultMs),
    p95Ratio: p95(baselineMs) / p95(resultMs),
    interval: pairedBootstrap(baselineMs, resultMs, ratioOf(median), level, resamples),
    p95Interval: pairedBootstrap(baselineMs, resultMs, ratioOf(p95), level, resamples),
  };
}

/**
 * Percentile interval of `statistic` over `resamples` resamplings of whole pairs (with replacement), from a
 * seeded generator. With fewer than two pairs there is nothing to resample: the interval is the estimate.
 */
export function pairedBootstrap(
  a: readonly number[],
  b: readonly number[],
  statistic: (a: readonly number[], b: readonly number[]) => number,
  level = LEVEL,
  resamples = RESAMPLES,
): [number, number] {
  const n = a.length;
  const estimate = statistic(a, b);
  if (n < 2) return [estimate, estimate];
  const random = mulberry32(BOOTSTRAP_SEED);
  const stats = new Float64Array(resamples);
  const ra: number[] = new Array<number>(n);
  const rb: number[] = new Array<number>(n);
  for (let s = 0; s < resamples; s++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      ra[i] = a[j]!;
      rb[i] = b[j]!;
    }
    stats[s] = statistic(ra, rb);
  }
  stats.sort();
  const tail = (1 - level) / 2;
  const at = (q: number) => stats[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))]!;
  return [at(tail), at(1 - tail)];
}
