/**
 * Every pass mcbuild knows, by recipe name. A new pass is its folder (src/passes/<name>/, one definePass) and
 * one line in BUILTIN below; the recipe schema, the docs, the planner, the search and the reports take it from
 * here. registerPass adds one at run time (tests, embedders); the recipe language follows (src/language/).
 */
import { cluster } from './cluster/index.js';
import type { PassDefinition } from './define.js';
import { distill } from './distill/index.js';
import { encode } from './encode/index.js';
import { finetune } from './finetune/index.js';
import { foldBatchnorm } from './fold-batchnorm/index.js';
import { lowrank } from './lowrank/index.js';
import { prune } from './prune/index.js';
import { pruneChannels } from './prune-channels/index.js';
import { quantize } from './quantize/index.js';
import { shard } from './shard/index.js';

export type {
  BuiltinArchitecture,
  JsonSchema,
  LabelUse,
  LayerOptions,
  ModelKind,
  ModelRef,
  OptionsPlace,
  OptionsSchema,
  PassContext,
  PassData,
  PassDefinition,
  PassDocs,
  PassInput,
  PassMeta,
  PassResult,
} from './define.js';
export { definePass, optionsByLayer, SKIPPED_BY_OVERRIDE } from './define.js';

/** A pass of any options type, as the registry holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each pass's options type is its own
export type AnyPass = PassDefinition<any>;

const BUILTIN: readonly AnyPass[] = [
  quantize,
  shard,
  finetune,
  cluster,
  prune,
  encode,
  foldBatchnorm,
  distill,
  lowrank,
  pruneChannels,
];

const registry = new Map<string, AnyPass>(BUILTIN.map((p) => [p.meta.name, p]));
let generation = 0;

export function getPass(name: string): AnyPass | undefined {
  return registry.get(name);
}

/** Every registered pass, builtin first, in the order they were added. */
export function allPasses(): readonly AnyPass[] {
  return [...registry.values()];
}

/** Grows with every registerPass and unregister, so what is derived from the registry knows to derive again. */
export function registryGeneration(): number {
  return generation;
}

/**
 * Adds a pass defined outside src/passes/ (a test's, an embedder's). Returns a function that removes it again.
 * A name already taken is refused: a pass cannot be replaced behind the back of recipes that name it.
 */
export function registerPass(pass: AnyPass): () => void {
  const name = pass.meta.name;
  if (registry.has(name)) throw new Error(`a pass named ${name} is already registered`);
  registry.set(name, pass);
  generation++;
  return () => {
    if (registry.get(name) !== pass) return;
    registry.delete(name);
    generation++;
  };
}
