/**
 * The programmatic API: the same functions and events the CLI uses.
 *
 *   import { build, plan, loadRecipe } from 'mcbuild';
 *   const result = await build('recipes/mnist-mlp.yaml', { onEvent: (e) => console.log(e.type) });
 *   process.exitCode = result.exitCode;
 */
export {
  planBuild,
  planBuild as plan,
  defaultCacheDir,
  type BuildOptions,
  type BuildResult,
  type PlanOptions,
  type PlannedBuild,
} from './pipeline/index.js';
export { build } from './build/index.js';
export { RecipeWatcher, type WatchEvent, type WatchOptions } from './build/watch.js';
export { loadRecipe, recipeSchema } from './language/index.js';
// A pass of one's own: definePass, then registerPass before loading recipes that name it (docs/architecture.md).
export {
  allPasses,
  definePass,
  getPass,
  registerPass,
  type PassContext,
  type PassDefinition,
  type PassMeta,
  type PassResult,
} from './passes/index.js';
export type { Recipe } from './recipe/index.js';
export type { Plan, Step } from './plan/index.js';
export type { BuildEvent } from './execute/index.js';
export type { Verdict, Check } from './gate/index.js';
export type { Report } from './report/index.js';
export type { RunLog } from './report/index.js';
export {
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  verifyOutput,
  type Manifest,
  type Provenance,
  type VerifyResult,
} from './provenance/index.js';
export { McbError, EXIT, type ErrorCode } from './errors.js';
export { MCBUILD_VERSION } from './version.js';
