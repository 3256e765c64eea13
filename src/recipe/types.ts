import type { SourceMap } from './source.js';

export type DatasetName = 'mnist';
export type Split = 'train' | 'test';
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type Backend = Exclude<BackendChoice, 'auto'>;

export interface DataSpec {
  dataset: DatasetName;
  split: Split;
  limit?: number;
}

export interface ScheduleSpec {
  type: 'constant' | 'cosine' | 'step';
  warmupBatches?: number;
  minLearningRate?: number;
  stepEpochs?: number;
  gamma?: number;
}

/** The options of every training run: model.train, finetune, distill. */
export interface TrainingOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd' | 'momentum';
  schedule: ScheduleSpec;
  seed: number;
}

export interface TrainSpec extends TrainingOptions {
  architecture: string;
  options: Record<string, unknown>;
  data: DataSpec;
}

export type ModelSource = { kind: 'file'; path: string } | { kind: 'train'; train: TrainSpec };

export interface PassEntry {
  /** Position in `passes`, for messages and step ids. */
  index: number;
  name: string;
  /** Options as written, before the pass filled in its defaults. */
  rawOptions: Record<string, unknown>;
}

export interface Thresholds {
  accuracy?: { maxDrop?: number; maxRelativeDrop?: number; min?: number };
  /** Byte limits are parsed to numbers; gzip and brotli limits apply to the sums of per-file compressed sizes. */
  size?: { maxBytes?: number; maxGzipBytes?: number; maxBrotliBytes?: number; minRatio?: number };
}

/** A recipe after schema validation, with defaults filled in and paths made absolute. */
export interface Recipe {
  file: string;
  name: string;
  description?: string;
  model: ModelSource;
  data: { eval: DataSpec; calibration?: DataSpec; train?: DataSpec };
  passes: PassEntry[];
  thresholds: Thresholds;
  output: string;
  runtime: { backend: BackendChoice };
  /** Where each value was written, for error messages. */
  source: SourceMap;
}
