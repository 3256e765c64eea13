/**
 * Inference latency: the median wall time of one forward pass at batch 1 (interactive use) and batch 32
 * (throughput), on the build's backend, after warm-up. It is a property of the machine as much as of the
 * model, and eval steps are cached: so the result says when, where and how it was measured (timestamp,
 * host cores and CPU, backend, runs), and nothing gates on it unless a threshold asks.
 *
 * Cheap by design (a few hundred ms for a MobileNet on two idle cores): one warm-up pass per batch size
 * (the eval step's accuracy loop has already run the model, so kernels are compiled; the warm-up allocates
 * for the new shape), then at least MIN_RUNS timed passes, more while the time budget lasts, at most MAX_RUNS.
 * A recipe can ask for other batch sizes, a fixed number of runs and more warm-up (`runtime.latency`); each
 * batch size reports its median (p50), 95th percentile and fastest pass.
 */
import { availableParallelism, cpus } from 'node:os';
import type { Dataset } from '../data/index.js';
import { LATENCY_BATCHES } from '../recipe/index.js';
import type * as TF from '@tensorflow/tfjs';
import type { InferenceModel, Tf } from '../engine/runtime.js';
import { inputBatch } from '../engine/batches.js';

export interface BatchLatency {
  batchSize: number;
  /** Median milliseconds per forward pass. */
  medianMs: number;
  /** 95th percentile (nearest rank) of the timed passes: the slow tail. */
  p95Ms?: number;
  /** Fastest pass, for a feel of the spread. */
  minMs: number;
  /** Timed passes (after warm-up). */
  runs: number;
  /** Every timed pass in run order, for a distribution (absent in reports from before mcbuild kept them). */
  samplesMs?: number[];
}

export interface LatencyMetrics {
  /** Median ms per forward pass at batch 1 (when measured: the default batch sizes are 1 and 32). */
  batch1Ms?: number;
  /** Median ms per forward pass at batch 32 (when measured). */
  batch32Ms?: number;
  batches: BatchLatency[];
  warmupRuns: number;
  backend: string;
  /** When the eval step measured it (ISO 8601): a cached step reports the latency of that moment. */
  measuredAt: string;
  /** The machine: logical cores and CPU model. */
  cores: number;
  cpu: string;
}

export const WARMUP_RUNS = 1;
export const MIN_RUNS = 5;
export const MAX_RUNS = 50;
/** Milliseconds of timed passes per batch size before stopping (once MIN_RUNS are done). */
export const BUDGET_MS = 100;

/** `runtime.latency` in a recipe: which batch sizes, a fixed number of timed runs, warm-up passes. */
export interface LatencyOptions {
  batchSizes?: number[];
  /** Exactly this many timed passes per batch size (no time budget). */
  runs?: number;
  warmup?: number;
}

export async function measureLatency(
  tf: Tf,
  model: InferenceModel,
  ds: Dataset,
  backend: string,
  opts: { signal?: AbortSignal } & LatencyOptions = {},
): Promise<LatencyMetrics> {
  const batches: BatchLatency[] = [];
  const warmup = opts.warmup ?? WARMUP_RUNS;
  for (const batchSize of batchSizesFor(model, opts.batchSizes)) {
    const x = sampleBatch(tf, ds, batchSize, model.inputDtype);
    try {
      const pass = () => timedPass(model, x);
      for (let i = 0; i < warmup; i++) await pass();
      const times: number[] = [];
      let spent = 0;
      const more = () =>
        opts.runs !== undefined
          ? times.length < opts.runs
          : times.length < MAX_RUNS && (times.length < MIN_RUNS || spent < BUDGET_MS);
      while (more()) {
        if (opts.signal?.aborted) break;
        const ms = await pass();
        times.push(ms);
        spent += ms;
      }
      batches.push({
        batchSize,
        medianMs: median(times),
        p95Ms: percentile(times, 0.95),
        minMs: Math.min(...times),
        runs: times.length,
        samplesMs: times,
      });
    } finally {
      x.dispose();
    }
  }
  const cpu = cpus()[0]?.model.trim() ?? 'unknown';
  return {
    ...at(batches, 1, 'batch1Ms'),
    ...at(batches, 32, 'batch32Ms'),
    batches,
    warmupRuns: warmup,
    backend,
    measuredAt: new Date().toISOString(),
    cores: availableParallelism(),
    cpu,
  };
}

/** The batch sizes to time: those asked (or LATENCY_BATCHES), or the one a fixed-batch model takes. */
export function batchSizesFor(model: InferenceModel, asked: readonly number[] | undefined): readonly number[] {
  return model.fixedBatch ? [model.fixedBatch] : (asked ?? LATENCY_BATCHES);
}

/** Milliseconds of one forward pass of `x`, output read back (asynchronous backends return before finishing). */
export async function timedPass(model: InferenceModel, x: TF.Tensor): Promise<number> {
  const t0 = performance.now();
  const ys = await model.run(x);
  await Promise.all(ys.map((y) => y.data()));
  const ms = performance.now() - t0;
  for (const y of ys) y.dispose();
  return ms;
}

/**
 * `n` samples of the dataset (cycled when it has fewer): real inputs, so no kernel takes a shortcut on zeros;
 * of the model's input dtype.
 */
export function sampleBatch(tf: Tf, ds: Dataset, n: number, dtype: InferenceModel['inputDtype'] = 'float32') {
  const size = ds.inputShape.reduce((a, b) => a * b, 1);
  const buf = new Float32Array(n * size);
  for (let k = 0; k < n; k++) {
    const i = ds.count ? k % ds.count : 0;
    if (ds.count) buf.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
  }
  return inputBatch(tf, { ...ds, x: buf, count: n }, undefined, 0, n, dtype);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The nearest-rank percentile: the smallest value with at least q of the values at or below it. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function at(batches: readonly BatchLatency[], size: number, key: 'batch1Ms' | 'batch32Ms'): Partial<LatencyMetrics> {
  const b = batches.find((x) => x.batchSize === size);
  return b ? { [key]: b.medianMs } : {};
}
