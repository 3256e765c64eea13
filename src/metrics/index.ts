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
export { measureFidelity, pairedOutcomes, type Fidelity, type PairedOutcomes } from './fidelity.js';
export type { ClassAccuracy } from './accuracy.js';
import type { FileSize } from './size.js';
import type { LatencyMetrics } from './latency.js';
import type { ClassAccuracy } from './accuracy.js';
import type { Fidelity, PairedOutcomes } from './fidelity.js';

/** What an eval step stores: the numbers thresholds and reports read. */
export interface Metrics {
  /** Top-1 accuracy; absent when the eval data is label-free (fidelity to the baseline is measured instead). */
  accuracy?: number;
  /** Samples classified correctly; absent with label-free eval data. */
  correct?: number;
  /** Samples evaluated. */
  count: number;
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
  /** The result's fidelity to the baseline on the same samples (result only). */
  fidelity?: Fidelity;
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
