export {
  BROTLI_QUALITY,
  brotliSize,
  GZIP_LEVEL,
  gzipSize,
  measureFiles,
  measureRawSize,
  measureSize,
  nonZeroParams,
  type FileSize,
  type SizeMetrics,
} from './size.js';
export { countCost, modelCost, type LayerCost, type ModelCost } from './flops.js';
export type { BatchLatency, LatencyMetrics } from './latency.js';
export type { BatchComparison, LatencyComparison, TimedSide } from './latency-compare.js';
export { measureFidelity, pairedOutcomes, topK, type ClassifierFidelity, type PairedOutcomes } from './fidelity.js';
export { outputDistance, showCosine, type OutputDistance } from './distance.js';
export {
  measureOutputFidelity,
  rowsAreDistributions,
  type Fidelity,
  type MeasuredOutput,
  type OutputFidelity,
} from './output-fidelity.js';
export type { ClassAccuracy } from './accuracy.js';
import type { FileSize } from './size.js';
import type { LatencyMetrics } from './latency.js';
import type { ClassAccuracy } from './accuracy.js';
import type { PairedOutcomes } from './fidelity.js';
import type { Fidelity } from './output-fidelity.js';

/** Fidelity as reports of any mcbuild version hold it. */
export type StoredFidelity = Partial<Fidelity>;

/** What an eval step stores: the numbers thresholds and reports read. */
export interface Metrics {
  /** Top-1 accuracy; absent when the eval data is label-free (fidelity to the baseline is measured instead). */
  accuracy?: number;
  /** Samples classified correctly; absent with label-free eval data. */
  correct?: number;
  /** Samples evaluated. */
  count: number;
  /** The model outputs measured, in order: the first is the one accuracy reads. Absent in older reports. */
  outputs?: { name: string; width: number }[];
  /** model.json plus weight shards, raw, exactly as exported. */
  sizeBytes: number;
  /** Sum of each exported file's gzip (level 9) size: bytes over the wire with Content-Encoding gzip. */
  gzipBytes: number;
  /** Sum of each exported file's brotli (quality 5) size: bytes over the wire with Content-Encoding br. */
  brotliBytes: number;
  /** Each exported file with its raw, gzip and brotli size. */
  files: FileSize[];
  params: number;
  /** Peak TF.js tensor memory evaluating one batch of 256 samples, weights included (bytes). */
  peakBytes?: number;
  /** Parameters that are not exactly zero (pruning shows here, not in `params`); absent in older reports. */
  nonZeroParams?: number;
  /** Top-k accuracy, k = min(5, classes − 1). */
  topK?: { k: number; accuracy: number; correct: number };
  /** Accuracy per label. */
  perClass?: ClassAccuracy[];
  /**
   * The result's fidelity to the baseline on the same samples (result only): the worst figure over the outputs,
   * and each output's. Reports from before mcbuild measured distances have only agreement and meanKl.
   */
  fidelity?: StoredFidelity;
  /** Samples only the baseline, or only the result, gets right (result only): for significance tests. */
  paired?: PairedOutcomes;
  /**
   * Multiply-accumulates per sample, from the topology (src/metrics/flops.ts). Absent for a graph model or
   * a layer class mcbuild cannot count, and in reports written before mcbuild counted them.
   */
  macs?: number;
  /** Floating-point operations per sample (2 per MAC, plus biases, pooling, batch norm, merges). */
  flops?: number;
  /**
   * Measured inference latency: machine-dependent, measured when the eval step ran (a cached step keeps the
   * numbers and the time of that run). Never gated unless a threshold asks.
   */
  latency?: LatencyMetrics;
}
