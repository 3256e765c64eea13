/** The plan's shapes: steps, their specs and keys, and the versions that go into keys. */
import type { PassData } from '../passes/index.js';
import type { Backend, DataSpec, LatencyRuntime, Position, Recipe, TrainSpec } from '../recipe/index.js';
import type { ModelLayer } from '../model/index.js';
import type { LayerRule, ResolvedLayer } from './layers.js';

/** Bump when the layout of cache entries changes: old entries then simply miss. */
export const CACHE_FORMAT = 1;
/**
 * Bump when what an eval step measures changes. 2: gzip and brotli transfer sizes, per-file sizes. 3: MACs
 * and FLOPs from the topology, measured latency at batch 1 and 32. 4: top-k and per-class accuracy, non-zero
 * parameters, the outputs kept for fidelity (agreement, KL) to the baseline. 5: every output of the model
 * measured and kept (several outputs, integer inputs, executeAsync), distances (cosine, relative errors) and
 * top-k agreement in fidelity.
 */
export const METRICS_VERSION = 5;
/** Bump when how pass steps read a graph model's weights changes (in the keys of pass steps on graph models). */
export const GRAPH_READER_VERSION = 1;
/** Bump when the interleaved latency comparison changes what it measures or how. */
export const LATENCY_COMPARE_VERSION = 1;
/** Bump when the training loop or a builtin architecture changes what it produces for the same options. */
export const TRAIN_VERSION = 2;

/**
 * What a step runs: everything its run needs, so that a runner or a worker never reads the recipe. Only
 * `keyInputs` go into the step key; these fields are derived from the same recipe values.
 */
export type StepSpec =
  | { kind: 'load'; path: string }
  | { kind: 'train'; train: TrainSpec }
  | PassSpec
  | {
      kind: 'eval';
      role: 'baseline' | 'result';
      data: DataSpec;
      latency?: LatencyRuntime;
      /** `model.outputs`: the outputs to measure, by name (all when absent). */
      outputs?: string[];
      /**
       * Their positions among the source model's outputs, for a model whose passes renamed one (lowrank splits
       * a last Dense `d` into `d_lr1` and `d_lr2`): passes keep the outputs' order, not always their names.
       */
      outputPositions?: number[];
    }
  | { kind: 'latency'; data: DataSpec; latency?: LatencyRuntime };

export interface PassSpec {
  kind: 'pass';
  pass: string;
  /** Position of the entry in `passes`. */
  index: number;
  /** The entry's options with defaults filled in, as in the key. */
  options: object;
  /** The entry's options as written: per-layer resolution merges the override blocks' settings over them. */
  raw: Record<string, unknown>;
  rules?: LayerRule[];
  /** The data slices the pass reads. */
  data?: Partial<Record<PassData, DataSpec>>;
  /** The earlier models the pass reads, by the name it gave them: the ids of input steps. */
  models?: Record<string, string>;
  /**
   * Where the entry's options and its override blocks' settings were written (by canonical data path), so the
   * pass's own errors point at the recipe line wherever the step runs.
   */
  places: Record<string, Position>;
  /**
   * Set for the scan's and the search's trials (not in the key): when the pass changes nothing, the step records
   * why in its meta (`empty`) instead of failing; a build that reads such an entry from the cache fails then.
   */
  allowEmpty?: true;
}

export interface Step {
  /** Stable, readable id: baseline, eval-baseline, pass-1-quantize, eval-result. */
  id: string;
  title: string;
  spec: StepSpec;
  /** Ids of the steps whose outputs this one reads. */
  inputs: string[];
  produces: 'model' | 'metrics';
  /** sha256 of canonicalJson(keyInputs). */
  key: string;
  /** Everything the key hashes, for `explain` and debugging. */
  keyInputs: Record<string, unknown>;
  /** Pass steps of a recipe with overrides: the layers the planner expects the pass to receive, and their resolution. */
  layerPlan?: LayerPlan;
}

export interface LayerPlan {
  /** The layers of the pass's input model as the planner predicts them; undefined after a pass that makes them unknowable (distill). */
  layers?: ModelLayer[];
  /** Those layers an override block touched, with their options and where each was written. */
  overridden: ResolvedLayer[];
}

export interface Plan {
  recipe: Recipe;
  backend: Backend;
  packages: Record<string, string>;
  /** Topologically ordered. */
  steps: Step[];
  baselineEval: string;
  resultEval: string;
  finalModel: string;
  /** The interleaved baseline/result timing, planned only when `thresholds.latency` gates on it. */
  latencyCompare?: string;
}
