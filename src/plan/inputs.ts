/**
 * What planning needs to know about the outside world, gathered in one place before the pure plan():
 * which backend runs, the versions of the numeric packages, and the digest of a model file. It reads,
 * never writes, and never loads TF.js.
 */
import { McbError } from '../errors.js';
import { architectureMisfit, enginePackages, readModelDir, resolveBackend } from '../engine/index.js';
import { datasetShape } from '../data/index.js';
import { modelLayers, type ModelLayer } from './layers.js';
import { formatPosition, type Backend, type BackendChoice, type Recipe, type TrainSpec } from '../recipe/index.js';

export interface PlanInputs {
  backend: Backend;
  packages: Record<string, string>;
  /** sha256 over model.json and its shards, when the baseline is a model file. */
  modelDigest?: string;
  /** The baseline's layers, gathered when the recipe has overrides (or `layers: true` asks): for per-layer plans. */
  layers?: ModelLayer[];
}

export async function gatherPlanInputs(recipe: Recipe, opts: { backend?: BackendChoice; layers?: boolean } = {}): Promise<PlanInputs> {
  const backend = resolveBackend(opts.backend ?? recipe.runtime.backend);
  const inputs: PlanInputs = { backend, packages: enginePackages(backend) };
  const wantLayers = opts.layers === true || recipe.overrides.length > 0;
  if (recipe.model.kind === 'file') {
    try {
      const { model, digest } = await readModelDir(recipe.model.path);
      inputs.modelDigest = digest;
      if (wantLayers) inputs.layers = modelLayers(model.json, model.weightSpecs);
    } catch (e) {
      if (e instanceof McbError) {
        throw new McbError(e.code, `${e.message} (\`model.path\` is set at ${formatPosition(recipe.source.positionOf(['model', 'path']))})`);
      }
      throw e;
    }
  }
  if (wantLayers && recipe.model.kind === 'train') inputs.layers = await architectureLayers(recipe.model.train, backend);
  return inputs;
}

/**
 * The layers of a builtin architecture, from the model TF.js builds (names are fixed by the architecture,
 * so they are those of the trained baseline). Loads TF.js, so only recipes with overrides pay for it.
 */
async function architectureLayers(t: TrainSpec, backend: Backend): Promise<ModelLayer[]> {
  const misfit = architectureMisfit(t.architecture, datasetShape(t.data).inputShape, t.options);
  if (misfit) return []; // plan() reports the misfit with its position
  const { loadEngine } = await import('../engine/runtime.js');
  const { buildArchitecture } = await import('../engine/architectures/index.js');
  const { tf } = await loadEngine(backend);
  const model = buildArchitecture(tf, t.architecture, t.options, { ...datasetShape(t.data), seed: t.seed });
  try {
    return modelLayers({ format: 'layers-model', modelTopology: model.toJSON(undefined, false) as Record<string, unknown> });
  } finally {
    model.dispose();
  }
}
