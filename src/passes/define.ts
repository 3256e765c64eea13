/**
 * The shape of a pass. Like an ESLint rule (`meta` with its schema and docs, then the code), a pass is one
 * self-describing object: `meta` says everything the rest of mcbuild needs to know without running it (its
 * options' JSON Schema with defaults and descriptions, what overrides may set per layer, what it reads, what it
 * reports, its docs), and the functions below it plan and apply it. The recipe schema, docs/passes.md, the
 * planner, the search and the reports are derived from these definitions: a new pass is its folder and one
 * line in the registry (src/passes/index.ts).
 */
import type { Dataset } from '../data/index.js';
import type { Engine } from '../engine/runtime.js';
import type { ModelLayer, StoredModel } from '../model/index.js';
import type { DataPath } from '../recipe/index.js';

/** A JSON Schema (draft 2020-12) fragment. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** The JSON Schema of a pass's options: an object whose properties are the options. */
export interface OptionsSchema extends JsonSchema {
  type: 'object';
  description: string;
  properties: Readonly<Record<string, JsonSchema>>;
}

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

/** The formats of model mcbuild reads: Keras layers models and frozen graph models (TF.js converter output). */
export type ModelKind = 'layers' | 'graph';

/**
 * An earlier model a pass reads besides its input: the baseline (the model before the first pass), or the
 * output of an earlier entry of `passes` (its index). Its step key goes into the pass step's key.
 */
export type ModelRef = 'baseline' | { pass: number };

/** A builtin architecture and its options as written (`model.train`, or a pass that builds one). */
export interface BuiltinArchitecture {
  architecture: string;
  options: Record<string, unknown>;
}

/**
 * What the planner knows about the model a pass receives, where its entry stands and which data has labels, for
 * options that depend on them (engine-free). Absent when options are resolved outside planning (per-layer
 * options at run time, candidate checks).
 */
export interface PassInput {
  /** The builtin architecture the model was built from; undefined when it was loaded from `model.path`. */
  architecture?: BuiltinArchitecture;
  /** "recipe.yaml:7:3": where the recipe says where the model comes from (`model.path` or `model.train`). */
  modelAt: string;
  /** The entry's index in `passes` and the names of all entries, for options that name an earlier model (a teacher). */
  entry?: { index: number; passes: readonly string[] };
  /**
   * Whether data.<kind> has labels (undefined when the recipe does not set it), for options whose default
   * depends on it (finetune learns from a teacher when data.train has none).
   */
  labelled?(kind: PassData): boolean | undefined;
  /** The model's format, for options a format cannot take (prune's `schedule` on a graph model). */
  kind?: ModelKind;
}

/**
 * A layer's options for this pass: the pass entry's own options merged with every override block that
 * matches the layer (src/plan/layers.ts), or null when a block says `skip`.
 */
export type LayerOptions<O> = (layer: string) => O | null;

export interface PassContext {
  /** Loads TF.js on first use; passes that only rewrite bytes never call it. */
  engine(): Promise<Engine>;
  /** A data slice the pass declares it reads (`needs`). */
  data(kind: PassData): Promise<Dataset>;
  /** An earlier model the pass declares it reads (`models`), by the name it gave it. */
  model?(name: string): Promise<StoredModel>;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
  /**
   * Where this pass's options were written, for errors only apply() can detect (they depend on the model).
   * Set by the runner; absent when a pass is called directly (tests).
   */
  place?: OptionsPlace;
  /**
   * Per-layer options, for passes that declare `perLayer`. Set by the runner for every pass step; absent
   * when a pass is called directly (tests), which means every layer takes the pass's options. Passes read
   * it through optionsByLayer, which types it.
   */
  layerOptions?: LayerOptions<unknown>;
}

/** The reason passes give in their stats for a layer an override block skips. */
export const SKIPPED_BY_OVERRIDE = 'skipped by an override';

/** ctx.layerOptions (typed: the runner resolves it with this pass's own resolveOptions), else the pass's options for every layer. */
export function optionsByLayer<O>(ctx: Pick<PassContext, 'layerOptions'> | undefined, options: O): LayerOptions<O> {
  return (ctx?.layerOptions as LayerOptions<O> | undefined) ?? (() => options);
}

export interface PassResult {
  model: StoredModel;
  /** Facts worth reporting (what was changed, errors introduced); stored with the step, described by meta.stats. */
  stats: Record<string, unknown>;
}

export interface PassDocs {
  /** Markdown paragraphs for docs/passes.md: what the pass does and how, what it refuses, its references. */
  description: string;
  /** Recipe fragments (YAML with top-level keys: `passes`, `overrides`) showing typical use; each is validated. */
  examples: readonly string[];
}

export interface PassMeta {
  /** The name recipes use (`- quantize: {...}`). */
  name: string;
  /** The implementation's version: bump it when the output changes for the same options (it is in the step key). */
  version: number;
  /** One line: what the pass does. */
  summary: string;
  docs: PassDocs;
  /** The options: types, descriptions, examples; `default`s come from defaultOptions. */
  schema: OptionsSchema;
  /**
   * The options an override block may set for one layer (besides `skip`, which every such pass honours by leaving
   * the layer as it is). Absent: the pass acts on the whole model and a block that configures it is refused.
   */
  perLayer?: readonly string[];
  /** Groups of options that are alternatives (one of rank / ratio / energy): setting one drops the others. */
  exclusiveOptions?: readonly (readonly string[])[];
  /** The model formats the pass works on; planning refuses it on another, at the pass's line. */
  models: readonly ModelKind[];
  /** Why it does not work on a format it leaves out of `models`: said in that refusal. */
  refuses?: Partial<Record<ModelKind, string>>;
  /** What `mcbuild sensitivity` (and a search without candidates) scans per layer when not told. */
  sensitivity?: { option: string; candidates: readonly (string | number)[] };
  /** JSON Schema of the statistics the pass stores with its step: report.json's `passes[].stats`. */
  stats: JsonSchema;
  /**
   * When the pass's work can legitimately be empty (fold-batchnorm on a model without batch normalization), what
   * that means, for the warning a step that changed nothing prints and records ("the model has no batch
   * normalization to fold"). Absent, the strict default: the pass is asked to change weights, and a step where it
   * changes none (the runner compares its input and output, src/model/stored-form.ts) fails with exit 2.
   */
  mayBeEmpty?: string;
}

/** What a pass reads of labels, and how to do without them. */
export interface LabelUse<O> {
  /** The data whose labels the pass reads (trains on), for the resolved options; planning refuses label-free data there. */
  reads(options: O): readonly PassData[];
  /** What the pass does with the labels, for that error ("trains on labels"). */
  why: string;
  /** How to use the pass without labels, when it can ("set `alpha: 0` to learn from the teacher alone"). */
  labelFreeHint?: string;
}

export interface PassDefinition<O extends object = object> {
  meta: PassMeta;
  /** The options' defaults, typed; resolveOptions fills them in, and the schema and docs show them. */
  defaultOptions: Readonly<Partial<O>>;
  /** Fills in defaults and checks what the schema cannot; throws McbError pointing at the option. */
  resolveOptions(raw: Record<string, unknown>, place: OptionsPlace, input?: PassInput): O;
  /** The data the pass reads for the resolved options (the planner puts their slices into the step key). */
  needs?(options: O): readonly PassData[];
  labels?: LabelUse<O>;
  /** Earlier models the pass reads besides its input (a teacher, the float original), by the name it uses. */
  models?(options: O): Readonly<Record<string, ModelRef>>;
  /** Whether the output depends on TF.js numerics for these options (then the backend goes into the step key). */
  dependsOnBackend?(options: O): boolean;
  /** For a pass whose output is a new model of a builtin architecture (distill): which, so later passes know it. */
  architectureAfter?(options: O): BuiltinArchitecture;
  /**
   * Planning only (overrides and `explain`): the layers of the output model given those of the input, for a
   * pass that adds, removes or renames layers. Absent: the same layers. Undefined result: not known before
   * the pass runs (later passes' patterns are then checked when they run).
   */
  layersAfter?(layers: readonly ModelLayer[], options: O, layerOptions: LayerOptions<O>): ModelLayer[] | undefined;
  apply(model: StoredModel, options: O, ctx: PassContext): Promise<PassResult>;
}

const NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/**
 * Checks a definition's meta against itself (per-layer and exclusive options must be options, the scanned
 * option a per-layer one) and writes each default into its option's schema. Throws on a malformed
 * definition: that is a bug in the pass, found when the registry loads, not a user's error.
 */
export function definePass<O extends object>(def: PassDefinition<O>): PassDefinition<O> {
  const { meta } = def;
  const fail = (why: string): never => {
    throw new Error(`pass ${meta.name}: ${why}`);
  };
  if (!NAME.test(meta.name)) fail('its name must be lower-case words joined by hyphens');
  if (!Number.isInteger(meta.version) || meta.version < 1) fail('its version must be a positive whole number');
  const options = new Set(Object.keys(meta.schema.properties));
  for (const o of meta.perLayer ?? []) if (!options.has(o)) fail(`per-layer option ${o} is not one of its options`);
  for (const group of meta.exclusiveOptions ?? [])
    for (const o of group) if (!options.has(o)) fail(`exclusive option ${o} is not one of its options`);
  if (meta.sensitivity && !meta.perLayer?.includes(meta.sensitivity.option))
    fail(`its sensitivity scan's option ${meta.sensitivity.option} is not a per-layer option`);
  if (meta.models.length === 0) fail('it must work on some kind of model');
  for (const o of Object.keys(def.defaultOptions))
    if (!options.has(o)) fail(`default for ${o}, which is not an option`);
  const properties = Object.fromEntries(
    Object.entries(meta.schema.properties).map(([name, schema]) => {
      const value = (def.defaultOptions as Record<string, unknown>)[name];
      return [name, value === undefined || 'default' in schema ? schema : { ...schema, default: value }];
    }),
  );
  return { ...def, meta: { ...meta, schema: { ...meta.schema, properties } } };
}
