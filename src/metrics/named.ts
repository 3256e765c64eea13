/**
 * Every metric an eval step measures, under the name thresholds use (`thresholds.metrics.<name>`), with its
 * unit and which way is better. The direction decides which limits make sense: a drop (`maxDrop`,
 * `maxRelativeDrop`) is a fall of something higher-is-better; a ratio (`minRatio`, baseline / result) is a
 * shrink of something lower-is-better. `min` and `max` bound the result's value of any metric.
 */
import type { Metrics } from './index.js';

/** `similarity`: a cosine in [−1, 1]; `relative`: a difference relative to a range. */
export type MetricUnit = 'fraction' | 'bytes' | 'count' | 'nats' | 'similarity' | 'relative';

export interface NamedMetric {
  name: string;
  description: string;
  unit: MetricUnit;
  better: 'higher' | 'lower';
  /** The value, or undefined when this evaluation did not measure it (no labels, a graph model, an old report). */
  read(m: Metrics): number | undefined;
  /** Measured only on labelled eval data: a limit on it is refused at plan time for label-free data. */
  needsLabels?: true;
  /** For a measure of the result against the baseline (fidelity): the baseline's own value, by definition. */
  baselineValue?: number;
}

const worstClass = (m: Metrics): number | undefined => {
  const measured = (m.perClass ?? []).filter((c) => c.count > 0);
  return measured.length ? Math.min(...measured.map((c) => c.accuracy)) : undefined;
};

export const NAMED_METRICS: readonly NamedMetric[] = [
  {
    name: 'accuracy',
    description: 'top-1 accuracy on data.eval',
    unit: 'fraction',
    better: 'higher',
    read: (m) => m.accuracy,
    needsLabels: true,
  },
  {
    name: 'topKAccuracy',
    description: 'top-k accuracy, k = min(5, classes − 1)',
    unit: 'fraction',
    better: 'higher',
    read: (m) => m.topK?.accuracy,
    needsLabels: true,
  },
  {
    name: 'worstClassAccuracy',
    description: 'the lowest accuracy of any class',
    unit: 'fraction',
    better: 'higher',
    read: worstClass,
    needsLabels: true,
  },
  // The baseline agrees with itself and diverges from itself by nothing: fidelity is read from the result.
  {
    name: 'agreement',
    description: "fraction of samples where the result's top-1 class is the baseline's",
    unit: 'fraction',
    better: 'higher',
    read: (m) => m.fidelity?.agreement,
    baselineValue: 1,
  },
  {
    name: 'meanKl',
    description: 'mean KL(baseline ‖ result) of the output distributions',
    unit: 'nats',
    better: 'lower',
    read: (m) => m.fidelity?.meanKl,
    baselineValue: 0,
  },
  {
    name: 'topKAgreement',
    description: "fraction of samples where the baseline's top-1 class is among the result's top k",
    unit: 'fraction',
    better: 'higher',
    read: (m) => m.fidelity?.topKAgreement,
    baselineValue: 1,
  },
  {
    name: 'cosine',
    description: "mean cosine similarity of a sample's baseline and result outputs (the worst output)",
    unit: 'similarity',
    better: 'higher',
    read: (m) => m.fidelity?.cosine,
    baselineValue: 1,
  },
  {
    name: 'meanRelError',
    description: "mean |result − baseline| relative to the output's range (the worst output)",
    unit: 'relative',
    better: 'lower',
    read: (m) => m.fidelity?.meanRelError,
    baselineValue: 0,
  },
  {
    name: 'maxRelError',
    description: "largest |result − baseline| relative to the output's range (the worst output)",
    unit: 'relative',
    better: 'lower',
    read: (m) => m.fidelity?.maxRelError,
    baselineValue: 0,
  },
  {
    name: 'sizeBytes',
    description: 'model.json plus weight shards, raw',
    unit: 'bytes',
    better: 'lower',
    read: (m) => m.sizeBytes,
  },
  {
    name: 'gzipBytes',
    description: 'each exported file gzipped (level 9), summed',
    unit: 'bytes',
    better: 'lower',
    read: (m) => m.gzipBytes,
  },
  {
    name: 'brotliBytes',
    description: 'each exported file brotli-compressed (quality 5), summed',
    unit: 'bytes',
    better: 'lower',
    read: (m) => m.brotliBytes,
  },
  { name: 'params', description: 'parameters, zeros included', unit: 'count', better: 'lower', read: (m) => m.params },
  {
    name: 'nonZeroParams',
    description: 'parameters that are not exactly zero',
    unit: 'count',
    better: 'lower',
    read: (m) => m.nonZeroParams,
  },
  {
    name: 'sparsity',
    description: 'fraction of parameters that are exactly zero',
    unit: 'fraction',
    better: 'higher',
    read: (m) => (m.nonZeroParams === undefined || m.params === 0 ? undefined : 1 - m.nonZeroParams / m.params),
  },
  {
    name: 'macs',
    description: 'multiply-accumulates per sample, from the topology',
    unit: 'count',
    better: 'lower',
    read: (m) => m.macs,
  },
  {
    name: 'flops',
    description: 'floating-point operations per sample, from the topology',
    unit: 'count',
    better: 'lower',
    read: (m) => m.flops,
  },
  {
    name: 'peakBytes',
    description: 'peak TF.js tensor memory evaluating one batch of 256 samples, weights included',
    unit: 'bytes',
    better: 'lower',
    read: (m) => m.peakBytes,
  },
];

export const METRIC_LIMITS = ['min', 'max', 'maxDrop', 'maxRelativeDrop', 'minRatio'] as const;
export type MetricLimit = (typeof METRIC_LIMITS)[number];

/** The limits that mean something for a metric (see the module comment). */
export function limitsFor(metric: NamedMetric): MetricLimit[] {
  if (metric.better === 'higher') return ['min', 'max', 'maxDrop', 'maxRelativeDrop'];
  // baseline / result is no ratio when the baseline's value is 0 by definition (meanKl).
  return metric.baselineValue === 0 ? ['min', 'max'] : ['min', 'max', 'minRatio'];
}

export function namedMetric(name: string): NamedMetric | undefined {
  return NAMED_METRICS.find((m) => m.name === name);
}
