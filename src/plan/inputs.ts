/**
 * What planning needs to know about the outside world, gathered in one place before the pure plan():
 * which backend runs, the versions of the numeric packages, and the digest of a model file. It reads,
 * never writes, and never loads TF.js.
 */
import { McbError } from '../errors.js';
import { architectureMisfit, enginePackages, resolveBackend } from '../engine/index.js';
import {
  modelKind,
  modelLayers,
  modelSignature,
  nonFiniteWeights,
  readModelDir,
  type ModelLayer,
  type ModelSignature,
} from '../model/index.js';
import type { ModelKind } from '../passes/index.js';
import {
  datasetFacts,
  datasetId,
  datasetShape,
  fitToModel,
  type DatasetFacts,
  type DatasetFactsMap,
} from '../data/index.js';
import {
  formatPosition,
  type Backend,
  type BackendChoice,
  type DataSpec,
  type Recipe,
  type TrainSpec,
} from '../recipe/index.js';

export interface PlanInputs {
  backend: Backend;
  packages: Record<string, string>;
  /** sha256 over model.json and its shards, when the baseline is a model file. */
  modelDigest?: string;
  /** The baseline's format when it is a model file (a trained baseline is a layers model). */
  modelKind?: ModelKind;
  /** What the baseline model file takes and gives: checked against the data and thresholds at planning. */
  signature?: ModelSignature;
  /**
   * The recipe's data with what the model tells filled in (a `preprocess` block without `size` takes the
   * model's input size), when that changed anything: plan() plans with it.
   */
  data?: Recipe['data'];
  /** The baseline's layers, gathered when the recipe has overrides (or `layers: true` asks): for per-layer plans. */
  layers?: ModelLayer[];
  /**
   * Each file dataset the recipe reads (images, npy, npz), by datasetId(spec): its content digest (in the
   * keys of the steps that read it), sample shape and whether it has labels. mnist needs no entry.
   */
  datasets?: DatasetFactsMap;
}

export async function gatherPlanInputs(
  recipe: Recipe,
  opts: { backend?: BackendChoice; layers?: boolean } = {},
): Promise<PlanInputs> {
  const backend = resolveBackend(opts.backend ?? recipe.runtime.backend);
  const inputs: PlanInputs = { backend, packages: enginePackages(backend) };
  const wantLayers = opts.layers === true || recipe.overrides.length > 0;
  if (recipe.model.kind === 'file') {
    try {
      const { model, digest } = await readModelDir(recipe.model.path);
      inputs.modelDigest = digest;
      inputs.modelKind = modelKind(model.json);
      inputs.signature = modelSignature(model.json);
      checkFinite(model, recipe.model.path, recipe.model.nonFinite ?? 'fail');
      if (wantLayers) inputs.layers = modelLayers(model.json, model.weightSpecs);
    } catch (e) {
      if (e instanceof McbError) {
        throw new McbError(
          e.code,
          `${e.message} (\`model.path\` is set at ${formatPosition(recipe.source.positionOf(['model', 'path']))})`,
        );
      }
      throw e;
    }
  }
  if (inputs.signature) {
    const data = fittedData(recipe.data, inputs.signature);
    if (data) inputs.data = data;
  }
  const datasets = await gatherDatasets(inputs.data ? { ...recipe, data: inputs.data } : recipe);
  if (Object.keys(datasets).length) inputs.datasets = datasets;
  if (wantLayers && recipe.model.kind === 'train')
    inputs.layers = await architectureLayers(recipe.model.train, backend, inputs.datasets, recipe.runtime.threads);
  return inputs;
}

/** The data slices with the model's input size filled in where a `preprocess` block leaves it open. */
function fittedData(data: Recipe['data'], signature: ModelSignature): Recipe['data'] | undefined {
  const shape = signature.inputs.length === 1 ? signature.inputs[0]!.shape?.slice(1) : undefined;
  const out: Recipe['data'] = { ...data };
  let changed = false;
  for (const role of ['eval', 'calibration', 'train'] as const) {
    const spec = data[role];
    if (!spec) continue;
    const fitted = fitToModel(spec, shape);
    if (fitted !== spec) {
      out[role] = fitted;
      changed = true;
    }
  }
  return changed ? out : undefined;
}

/**
 * A NaN or infinite weight makes every output and metric meaningless and breaks quantization (its min/max
 * become infinite), so by default (`model.nonFinite: fail`) the build stops here, before any step runs.
 * `warn` is for models where such a value is known to be harmless (a masked, never-read weight). Checked
 * at every plan, so a fully cached build checks too; it is in no key because it changes no artifact.
 */
function checkFinite(model: Parameters<typeof nonFiniteWeights>[0], path: string, mode: 'fail' | 'warn'): void {
  const bad = nonFiniteWeights(model);
  if (bad.length === 0) return;
  const list =
    bad
      .slice(0, 5)
      .map((b) => `${b.name} (${b.count} value${b.count === 1 ? '' : 's'})`)
      .join(', ') + (bad.length > 5 ? `, and ${bad.length - 5} more` : '');
  if (mode === 'fail') {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${path} has NaN or infinite weights: ${list}. Fix or retrain the model, or set \`model.nonFinite: warn\` to build it anyway`,
    );
  }
  process.stderr.write(`mcbuild: warning: ${path} has NaN or infinite weights: ${list} (model.nonFinite: warn)\n`);
}

/**
 * Reads each file dataset once (the same data named twice is read once): its digest and shape. An error
 * about the files says which recipe entry names them.
 */
async function gatherDatasets(recipe: Recipe): Promise<Record<string, DatasetFacts>> {
  const named: [DataSpec, (string | number)[]][] = [];
  for (const role of ['eval', 'calibration', 'train'] as const) {
    const spec = recipe.data[role];
    if (spec) named.push([spec, ['data', role]]);
  }
  if (recipe.model.kind === 'train')
    named.push([
      recipe.model.train.data,
      recipe.model.train.data.dataset === 'mnist' ? ['model', 'train'] : ['data', 'train'],
    ]);
  const out: Record<string, DatasetFacts> = {};
  for (const [spec, path] of named) {
    const id = datasetId(spec);
    if (id in out) continue;
    const where = `\`${path.join('.')}\` at ${formatPosition(recipe.source.positionOf(path))}`;
    try {
      // Undefined for data that needs nothing read (mnist).
      const facts = await datasetFacts(spec, where);
      if (facts) out[id] = facts;
    } catch (e) {
      if (e instanceof McbError && !e.message.startsWith(where))
        throw new McbError(e.code, `${e.message} (the data is set by ${where})`, { cause: e });
      throw e;
    }
  }
  return out;
}

/**
 * The layers of a builtin architecture, from the model TF.js builds (names are fixed by the architecture,
 * so they are those of the trained baseline). Loads TF.js, so only recipes with overrides pay for it.
 */
async function architectureLayers(
  t: TrainSpec,
  backend: Backend,
  datasets: DatasetFactsMap | undefined,
  threads: number | undefined,
): Promise<ModelLayer[]> {
  const shape = datasetShape(t.data, datasets);
  const misfit = architectureMisfit(t.architecture, shape.inputShape, t.options);
  if (misfit || shape.numClasses === undefined) return []; // plan() reports the misfit (or the missing labels) with its position
  const { loadEngine } = await import('../engine/runtime.js');
  const { buildArchitecture } = await import('../engine/architectures/index.js');
  const { tf } = await loadEngine(backend, threads);
  const model = buildArchitecture(tf, t.architecture, t.options, {
    inputShape: shape.inputShape,
    numClasses: shape.numClasses,
    seed: t.seed,
  });
  try {
    return modelLayers({
      format: 'layers-model',
      modelTopology: model.toJSON(undefined, false),
    });
  } finally {
    model.dispose();
  }
}
