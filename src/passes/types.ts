import type { Dataset } from '../data/index.js';
import type { Engine } from '../engine/runtime.js';
import type { ModelLayer, StoredModel } from '../model/index.js';
import type { DataPath } from '../recipe/index.js';

/** Where a pass's options were written, so a pass can point its own errors at file:line:col. */
export interface OptionsPlace {
  /** `passes[1].quantize` */
  path: DataPath;
  /** "recipes/x.yaml:12:15" for the option named, or for the pass entry when omitted. */
  at(option?: string): string;
}

/**
 * Data a pass may read. `eval` is for passes that measure something the gate cannot (distill's student
 * trained alone); a pass never trains on it.
 */
export type PassData = 'train' | 'calibration' | 'eval';

/** A builtin architecture and its options as written (`model.train`, or a pass that builds one). */
export interface BuiltinArchitecture {
  architecture: string;
  options: Record<string, unknown>;
}

/** What the planner knows about the model a pass receives, for options that depend on it (engine-free). */
export interface PassInput {
  /** The builtin architecture the model was built from; undefined when it was loaded from `model.path`. */
  architecture?: BuiltinArchitecture;
  /** "recipe.yaml:7:3": where the recipe says where the model comes from (`model.path` or `model.train`). */
  modelAt: string;
}

/**
 * A layer's options for this pass: the pass entry's own options merged with every override block that
 * matches the layer (src/plan/layers.ts), or null when a block says `skip`.
 */
export type LayerOptions<O> = (layer: string) => O | null;

export interface PassContext {
  /** Loads TF.js on first use; passes that only rewrite bytes never call it. */
  engine(): Promise<Engine>;
  data(kind: PassData): Promise<Dataset>;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
  /**
   * Where this pass's options were written, for errors only apply() can detect (they depend on the model).
   * Set by the executor; absent when a pass is called directly (tests).
   */
  place?: OptionsPlace;
  /**
   * Per-layer options, for passes that declare `perLayer`. Set by the executor for every pass step; absent
   * when a pass is called directly (tests), which means every layer takes the pass's options. Passes read
   * it through optionsByLayer, which types it.
   */
  layerOptions?: LayerOptions<unknown>;
}

/** The reason passes give in their stats for a layer an override block skips. */
export const SKIPPED_BY_OVERRIDE = 'skipped by an override';

/** ctx.layerOptions (typed: the executor resolves it with this pass's own resolveOptions), else the pass's options for every layer. */
export function optionsByLayer<O>(ctx: Pick<PassContext, 'layerOptions'> | undefined, options: O): LayerOptions<O> {
  return (ctx?.layerOptions as LayerOptions<O> | undefined) ?? (() => options);
}

export interface PassResult {
  model: StoredModel;
  /** Facts worth reporting (what was changed, errors introduced); stored with the step. */
  stats: Record<string, unknown>;
}

/**
 * A pass is one file in src/passes/: its options (validated by the schema fragment `$defs/pass-<name>` and
 * by resolveOptions), its implementation version (bump it when its output changes: it is in the step key)
 * and its apply(). The planner, cache and executor never change for a new pass.
 */
export interface PassDefinition<O extends object = Record<string, unknown>> {
  name: string;
  version: number;
  summary: string;
  /** True when the output depends on TF.js numerics, so the backend goes into the step key. */
  dependsOnBackend: boolean;
  /** Data the pass reads; the planner puts these slices into the step key. */
  needs: ReadonlyArray<PassData>;
  /** When what the pass reads depends on its options: overrides `needs` for the resolved options. */
  needsFor?(options: O): ReadonlyArray<PassData>;
  /**
   * The data whose labels the pass reads (trains on), for the resolved options: the planner refuses label-free
   * data there before anything runs. Absent: none.
   */
  labelsFor?(options: O): ReadonlyArray<PassData>;
  /** What the pass does with the labels, for that error ("trains on labels"). */
  labelsWhy?: string;
  /** How to use the pass without labels, when it can ("set `alpha: 0` to learn from the teacher alone"). */
  labelFreeHint?: string;
  /** When backend dependence depends on the options: overrides `dependsOnBackend` for the resolved options. */
  dependsOnBackendFor?(options: O): boolean;
  /** Fills in defaults and checks what the schema cannot; throws McbError pointing at the option. */
  resolveOptions(raw: Record<string, unknown>, place: OptionsPlace, input?: PassInput): O;
  /** For a pass whose output is a new model of a builtin architecture (distill): which, so later passes know it. */
  architectureAfter?(options: O): BuiltinArchitecture;
  /**
   * Per-layer overrides: the options an override block may set for one layer (besides `skip`, which every
   * such pass honours by leaving the layer as it is). Absent: the pass acts on the whole model and a block
   * that configures it is an error.
   */
  perLayer?: readonly string[];
  /** Groups of options that are alternatives (one of rank / ratio / energy): a block setting one drops the others. */
  exclusiveOptions?: readonly (readonly string[])[];
  /**
   * Planning only (overrides and `explain`): the layers of the output model given those of the input, for a
   * pass that adds, removes or renames layers. Absent: the same layers. Undefined result: not known before
   * the pass runs (later passes' patterns are then checked when they run).
   */
  layersAfter?(layers: readonly ModelLayer[], options: O, layerOptions: LayerOptions<O>): ModelLayer[] | undefined;
  apply(model: StoredModel, options: O, ctx: PassContext): Promise<PassResult>;
}
