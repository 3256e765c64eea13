/**
 * What a model file takes and gives, checked against the recipe before anything runs: one input whose shape
 * matches every slice the model is fed and whose dtype the data can give, output names that exist, and
 * fidelity limits that can see a change in the outputs they read. `plan` and `validate` then catch what
 * would otherwise fail (or pass blind) deep inside a step.
 */
import { datasetShape, describeDataset, type DatasetFactsMap } from '../data/index.js';
import { McbError } from '../errors.js';
import { sampleSize, type ModelSignature, type TensorSpec } from '../model/index.js';
import { formatPosition, type DataSpec, type FidelityLimits, type Recipe } from '../recipe/index.js';

/** The data roles a model is fed during a build (training data only feeds passes that train it). */
const FED = ['eval', 'calibration', 'train'] as const;

/**
 * Checks the recipe against the model's signature and returns it with the data made to fit where the fit is
 * unambiguous: a model with an integer input takes raw values, so images keep their 0..255 pixels instead of
 * being scaled to 0..1 by default.
 */
export function fitRecipeToModel(
  recipe: Recipe,
  signature: ModelSignature,
  facts: DatasetFactsMap | undefined,
): Recipe {
  if (recipe.model.kind !== 'file' || signature.inputs.length === 0) return recipe;
  const at = (path: (string | number)[]) => formatPosition(recipe.source.positionOf(path));
  const modelAt = `\`model.path\` at ${at(['model', 'path'])}`;
  if (signature.inputs.length > 1)
    throw new McbError(
      'MCB_MODEL_INVALID',
      `the model (${modelAt}) takes ${signature.inputs.length} inputs (${signature.inputs.map(show).join(', ')}); mcbuild feeds one input tensor per sample. Export a model with one input (fold the others into constants), or wrap it in one that takes a single input.`,
    );
  const input = signature.inputs[0]!;
  if (input.dtype === 'string' || input.dtype === 'complex64')
    throw new McbError(
      'MCB_MODEL_INVALID',
      `the model (${modelAt}) takes ${show(input)}; mcbuild feeds numbers (float32, int32, uint8, bool). Export the model from after its ${input.dtype} preprocessing.`,
    );
  const data = { ...recipe.data };
  let changed = false;
  for (const role of FED) {
    const spec = data[role];
    if (!spec) continue;
    const where = `\`data.${role}\` at ${at(['data', role])}`;
    checkShape(spec, input, facts, where, modelAt);
    if (input.dtype === 'float32') continue;
    const raw = rawValues(spec, input, where, modelAt);
    if (raw !== spec) {
      data[role] = raw;
      changed = true;
    }
  }
  const names = signature.outputs.map((o) => o.name);
  const chosen = recipe.model.outputs;
  for (const [i, name] of (chosen ?? []).entries())
    if (!names.includes(name))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`model.outputs\` at ${at(['model', 'outputs', i])} names ${JSON.stringify(name)}, which the model (${modelAt}) does not have; its outputs are ${signature.outputs.map(show).join(', ')}.`,
      );
  const kept = chosen ? chosen.map((n) => signature.outputs.find((o) => o.name === n)!) : signature.outputs;
  checkFidelityLimits(recipe, kept, at);
  return changed ? { ...recipe, data } : recipe;
}

function show(t: TensorSpec): string {
  const shape = t.shape ? `[${t.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '[?]';
  return `${t.name} ${shape} ${t.declared ?? t.dtype}`;
}

function checkShape(
  spec: DataSpec,
  input: TensorSpec,
  facts: DatasetFactsMap | undefined,
  where: string,
  modelAt: string,
): void {
  if (!input.shape) return;
  let sample: number[];
  try {
    sample = datasetShape(spec, facts).inputShape;
  } catch {
    return; // the data's own checks report unreadable data, with its position
  }
  const want = input.shape.slice(1);
  const fits = want.length === sample.length && want.every((d, i) => d === null || d === sample[i]);
  if (fits) return;
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `${where} gives samples of shape [${sample.join(', ')}] (${describeDataset(spec)}), but the model's input is ${show(input)} (${modelAt}), one sample of [${want.map((d) => (d === null ? '?' : String(d))).join(', ')}]. Give data of that shape (images: \`size\` and \`channels\`; arrays: reshape them), or use the model the data was made for.`,
  );
}

/**
 * An integer or bool input is fed the data's values as they are: images skip their default 0..1 scaling, and
 * a normalisation written in the recipe (which would make fractions) is refused.
 */
function rawValues(spec: DataSpec, input: TensorSpec, where: string, modelAt: string): DataSpec {
  const dtype = input.declared ?? input.dtype;
  if (spec.dataset === 'mnist')
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} is mnist, whose pixels mcbuild gives as floats in 0..1, but the model's input is ${show(input)} (${modelAt}), fed whole values. Give the digits as images or an npy array of raw values.`,
    );
  const defaultScale = spec.dataset === 'images' ? 1 / 255 : 1;
  const plain = spec.scale === defaultScale && spec.offset === 0 && !spec.mean && !spec.std;
  if (!plain)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets a normalisation (scale, offset, mean or std), but the model's input is ${show(input)} (${modelAt}): ${dtype} inputs are fed the data's raw values, which the model normalises itself. Remove scale, offset, mean and std from that data.`,
    );
  return spec.scale === 1 ? spec : { ...spec, scale: 1 };
}

/** Limits the outputs cannot show: classifier figures or a cosine on outputs one value wide. */
function checkFidelityLimits(
  recipe: Recipe,
  kept: readonly TensorSpec[],
  at: (path: (string | number)[]) => string,
): void {
  const f = recipe.thresholds.fidelity;
  if (!f) return;
  const names = kept.map((o) => o.name);
  const blind = (limits: FidelityLimits, outputs: readonly TensorSpec[], path: (string | number)[]) => {
    const widths = outputs.map((o) => sampleSize(o));
    // Only a width read from the model decides: an open one may be wide enough.
    if (widths.some((w) => w === undefined)) return;
    const widest = Math.max(...(widths as number[]));
    for (const key of ['minAgreement', 'maxMeanKl', 'minTopKAgreement', 'minCosine'] as const) {
      if (limits[key] === undefined) continue;
      const need = key === 'minTopKAgreement' ? 3 : 2;
      if (widest >= need) continue;
      const what =
        outputs.length === 1
          ? `the output ${outputs[0]!.name} is ${widest} wide`
          : `every output measured is at most ${widest} wide`;
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${path.join('.')}.${key}\` at ${at([...path, key])} cannot see a change: ${what}, and ${key === 'minCosine' ? 'a cosine of single values only tells a flipped sign' : key === 'minTopKAgreement' ? 'top-k agreement needs more than 2 classes' : 'a class distribution needs at least 2 classes (KL is always 0, agreement always 100%)'}. Use maxMeanRelError or maxRelError for such outputs.`,
      );
    }
  };
  blind(f, kept, ['thresholds', 'fidelity']);
  for (const [name, limits] of Object.entries(f.outputs ?? {})) {
    const out = kept.find((o) => o.name === name);
    if (!out)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.fidelity.outputs.${name}\` at ${at(['thresholds', 'fidelity', 'outputs', name])} names an output that is not measured; the outputs measured are ${names.join(', ')}${recipe.model.kind === 'file' && recipe.model.outputs ? ' (`model.outputs` chooses them)' : ''}.`,
      );
    blind(limits, [out], ['thresholds', 'fidelity', 'outputs', name]);
  }
}
