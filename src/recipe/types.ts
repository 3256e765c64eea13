import type { RecipeSource } from './source.js';

export type DatasetName = 'mnist' | 'images' | 'npy' | 'npz';
export type Split = 'train' | 'test';
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type Backend = Exclude<BackendChoice, 'auto'>;

/**
 * How a file dataset's raw values become model inputs: x = (raw·scale + offset − mean[c]) / std[c], c the
 * channel (the last axis). `mean`/`std` hold one value per channel, or one for all.
 */
export interface Normalisation {
  scale: number;
  offset: number;
  mean?: number[];
  std?: number[];
}

/** How `preprocess.resize` fits a sample of another shape to `size` (see src/data/preprocess.ts). */
export type ResizeMode = 'stretch' | 'centre-crop' | 'letterbox';

/**
 * The image settings of a `preprocess` block (its normalisation keys become the spec's Normalisation):
 * present only when the block sets one of them, so entries without it keep their keys. Images keep their
 * channel count in the spec's own `channels`; arrays keep theirs here.
 */
export interface ImagePreprocess {
  /** [height, width]; absent: the first image's size (images), the stored size (arrays). */
  size?: [number, number];
  resize: ResizeMode;
  /** Arrays only: the channels the model takes (fewer than stored: grey by luma, alpha dropped). */
  channels?: 1 | 3 | 4;
  order: 'rgb' | 'bgr';
  /** The raw value letterbox pads with (before normalisation). */
  pad: number;
}

export interface MnistDataSpec {
  dataset: 'mnist';
  split: Split;
  limit?: number;
}

/** `class/xxx.png|jpg` under `path` (or `path/<split>/class/…`); no class folders, or `labels: false`: label-free. */
export interface ImagesDataSpec extends Normalisation {
  dataset: 'images';
  /** Absolute (resolved against the recipe file that wrote it). */
  path: string;
  /** The `train/` or `test/` sub-folder, when the folder has them. */
  split: Split;
  limit?: number;
  /** [height, width] every image is resized to (bilinear); default: the first image's size. */
  size?: [number, number];
  channels: 1 | 3 | 4;
  /** Class folder names in label order; default: the sub-folders, sorted. */
  classes?: string[];
  /** false: read no labels even when there are class folders (fidelity-only evaluation). */
  labels?: false;
  preprocess?: ImagePreprocess;
}

/** Arrays in NumPy .npy files: `x` [N, ...inputShape], `y` [N] class indices or [N, C] one-hot; no `y`: label-free. */
export interface NpyDataSpec extends Normalisation {
  dataset: 'npy';
  /** Absolute path of the inputs' .npy file. */
  x: string;
  /** Absolute path of the labels' .npy file. */
  y?: string;
  limit?: number;
  numClasses?: number;
  preprocess?: ImagePreprocess;
}

/** Named arrays of one .npz archive (np.savez / np.savez_compressed). */
export interface NpzDataSpec extends Normalisation {
  dataset: 'npz';
  /** Absolute path of the .npz file. */
  path: string;
  /** Array name of the inputs (default `x`). */
  x: string;
  /** Array name of the labels; default `y` when the archive has it. */
  y?: string;
  /** false: ignore labels even when the archive has them. */
  labels?: false;
  limit?: number;
  numClasses?: number;
  preprocess?: ImagePreprocess;
}

export type DataSpec = MnistDataSpec | ImagesDataSpec | NpyDataSpec | NpzDataSpec;

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

/**
 * `nonFinite`: what a NaN/Inf weight in the file does; absent means `fail` (see readModelDir's callers).
 * `outputs`: the outputs to measure, by name; absent means all.
 */
export type ModelSource =
  { kind: 'file'; path: string; nonFinite?: 'fail' | 'warn'; outputs?: string[] } | { kind: 'train'; train: TrainSpec };

export interface PassEntry {
  /** Position in `passes`, for messages and step ids. */
  index: number;
  name: string;
  /** Options as written, before the pass filled in its defaults (an `auto` option holds its first candidate). */
  rawOptions: Record<string, unknown>;
  /** Set when an option is `auto`: the accuracy-driven search chooses it per layer. */
  search?: SearchSpec;
}

/** `bits: auto, candidates: [8, 4, 2], budget: thresholds`. */
export interface SearchSpec {
  /** The option the search sets per layer. */
  option: string;
  /** Its values, most conservative first. */
  candidates: (string | number)[];
  /** What must hold: the recipe's thresholds. */
  budget: 'thresholds';
  /** Full builds tried at most (the sensitivity scan's trials are not counted). */
  maxTrials: number;
  /** Stop trying after this long (the best passing plan so far is kept). */
  maxSeconds?: number;
}

/** `runtime.latency`: how latency is timed (batch sizes, runs per batch size, warm-up runs). */
export interface LatencyRuntime {
  batchSizes?: number[];
  runs?: number;
  warmup?: number;
}

/** `max` count, and `minRatio` = at least this many times fewer than the baseline. */
export interface CountThreshold {
  max?: number;
  minRatio?: number;
}

/** `thresholds.latency`: a speed-up and/or an absolute time, at one batch size and percentile. */
export interface LatencyThreshold {
  minRatio?: number;
  maxMs?: number;
  batchSize?: number;
  percentile?: 50 | 95;
  significance?: { level?: number; reading?: 'significant' | 'strict' };
}

/** Limits on the result's fidelity to the baseline, over every output or for one. */
export interface FidelityLimits {
  minAgreement?: number;
  minTopKAgreement?: number;
  maxMeanKl?: number;
  minCosine?: number;
  maxMeanRelError?: number;
  maxRelError?: number;
}

export interface Thresholds {
  accuracy?: {
    maxDrop?: number;
    maxRelativeDrop?: number;
    min?: number;
    perClassMaxDrop?: number;
    topKMaxDrop?: number;
    /** Judge maxDrop on the paired outcomes (src/metrics/significance.ts) instead of the raw difference. */
    significance?: { test: 'mcnemar' | 'bootstrap'; level?: number; reading?: 'significant' | 'strict' };
  };
  fidelity?: FidelityLimits & { outputs?: Record<string, FidelityLimits> };
  /** `metrics.<name>.<limit>`: limits on any named metric (src/metrics/named.ts); byte sizes parsed to numbers. */
  metrics?: Record<string, Partial<Record<'min' | 'max' | 'maxDrop' | 'maxRelativeDrop' | 'minRatio', number>>>;
  /** Judged on the interleaved baseline/result timing of the `latency` step (src/metrics/latency-compare.ts). */
  latency?: LatencyThreshold;
  params?: CountThreshold;
  nonZeroParams?: CountThreshold;
  macs?: CountThreshold;
  flops?: CountThreshold;
  /** Byte limits are parsed to numbers; gzip and brotli limits apply to the sums of per-file compressed sizes. */
  size?: { maxBytes?: number; maxGzipBytes?: number; maxBrotliBytes?: number; minRatio?: number };
}

/**
 * One block of `overrides`: the layers it applies to (name patterns and/or classes) and, per pass name,
 * that pass's options for them or `skip`. Resolved against a model's layers by src/plan/layers.ts.
 */
export interface OverrideBlock {
  /** Position in `overrides` (after `extends` merged the bases' blocks in front). */
  index: number;
  layers?: string[];
  classes?: string[];
  /** Graph-model ops (Conv2D also matches _FusedConv2D: see opMatches in src/model/graph-ops.ts). */
  ops?: string[];
  /** Only the pass entry at this index of `passes` (a recipe that runs a pass twice); else every entry of each pass named. */
  pass?: number;
  passes: Record<string, Record<string, unknown> | 'skip'>;
}

/** One combination of a `matrix` sweep. */
export interface Variant {
  /** "bits=8,sparsity=0.5": the matrix values, in the order the matrix lists its keys. */
  name: string;
  values: Record<string, unknown>;
}

/** A recipe after schema validation, with defaults filled in and paths made absolute. */
export interface Recipe {
  file: string;
  /** Every recipe file read: `file` and the files it extends (watch mode watches them all). */
  files: string[];
  /**
   * The recipe's data as validated: after `extends`, `--set` and matrix substitution, with `model.path` and
   * `output` absolute and a searched option at its first candidate. The search writes its result from it.
   */
  document: Record<string, unknown>;
  name: string;
  description?: string;
  model: ModelSource;
  data: { eval: DataSpec; calibration?: DataSpec; train?: DataSpec };
  passes: PassEntry[];
  overrides: OverrideBlock[];
  thresholds: Thresholds;
  output: string;
  /** `threads`: the wasm pool's size (src/engine/wasm-threads.ts); unset, the engine's default. In no step key. */
  runtime: { backend: BackendChoice; threads?: number; latency?: LatencyRuntime };
  /** Set when the recipe is one combination of a `matrix`. */
  variant?: Variant;
  /** Where each value was written (in this file, a file it extends, or on the command line), for error messages. */
  source: RecipeSource;
}
