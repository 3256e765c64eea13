/**
 * What planning needs to know about the outside world, gathered in one place before the pure plan():
 * which backend runs, the versions of the numeric packages, and the digest of a model file. It reads,
 * never writes, and never loads TF.js.
 */
import { McbError } from '../errors.js';
import { enginePackages, readModelDir, resolveBackend } from '../engine/index.js';
import { formatPosition, type Backend, type BackendChoice, type Recipe } from '../recipe/index.js';

export interface PlanInputs {
  backend: Backend;
  packages: Record<string, string>;
  /** sha256 over model.json and its shards, when the baseline is a model file. */
  modelDigest?: string;
}

export async function gatherPlanInputs(recipe: Recipe, opts: { backend?: BackendChoice } = {}): Promise<PlanInputs> {
  const backend = resolveBackend(opts.backend ?? recipe.runtime.backend);
  const inputs: PlanInputs = { backend, packages: enginePackages(backend) };
  if (recipe.model.kind === 'file') {
    try {
      inputs.modelDigest = (await readModelDir(recipe.model.path)).digest;
    } catch (e) {
      if (e instanceof McbError) {
        throw new McbError(e.code, `${e.message} (\`model.path\` is set at ${formatPosition(recipe.source.positionOf(['model', 'path']))})`);
      }
      throw e;
    }
  }
  return inputs;
}
