import type { Dataset } from '../data/index.js';
import type { Engine } from '../engine/runtime.js';
import type { StoredModel } from '../engine/index.js';
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
  /** When backend dependence depends on the options: overrides `dependsOnBackend` for the resolved options. */
  dependsOnBackendFor?(options: O): boolean;
  /** Fills in defaults and checks what the schema cannot; throws McbError pointing at the option. */
  resolveOptions(raw: Record<string, unknown>, place: OptionsPlace, input?: PassInput): O;
  /** For a pass whose output is a new model of a builtin architecture (distill): which, so later passes know it. */
  architectureAfter?(options: O): BuiltinArchitecture;
  apply(model: StoredModel, options: O, ctx: PassContext): Promise<PassResult>;
}
