/**
 * The planner: a pure function from a recipe (and the facts gathered by gatherPlanInputs) to a DAG of steps,
 * each with a content key. No TF.js, no writes, no clock: the same recipe and inputs give the same plan.
 *
 *   baseline (load | train) ──▶ eval-baseline
 *        └──▶ pass-1-<name> ──▶ … ──▶ pass-n-<name> ──▶ eval-result
 *                                                  (gate and export follow, uncached)
 */
import { datasetFingerprint, datasetLabelled, datasetShape, describeDataset } from '../data/index.js';
import { architectureMisfit } from '../engine/index.js';
import { McbError } from '../errors.js';
import { formatPosition, type DataSpec, type Recipe } from '../recipe/index.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';
import { checkLabelFree, checkOverrides } from './checks.js';
import { fitRecipeToModel } from './model-fit.js';
import type { PlanInputs } from './inputs.js';
import { planPasses } from './passes.js';
import {
  CACHE_FORMAT,
  LATENCY_COMPARE_VERSION,
  METRICS_VERSION,
  TRAIN_VERSION,
  type Plan,
  type Step,
  type StepSpec,
} from './types.js';

/**
 * `allowEmptyPasses`: for the recipes the sensitivity scan and the search make (a reference that skips every
 * layer on purpose): a pass that changes nothing records it in its step instead of failing.
 */
export function plan(written: Recipe, inputs: PlanInputs, options: { allowEmptyPasses?: boolean } = {}): Plan {
  // The data made to fit the model's inputs (integer inputs take raw values), after checking they fit.
  const withData = inputs.data ? { ...written, data: inputs.data } : written;
  const recipe = inputs.signature ? fitRecipeToModel(withData, inputs.signature, inputs.datasets) : withData;
  const steps: Step[] = [];
  const byId = new Map<string, Step>();
  const add = (
    id: string,
    title: string,
    spec: StepSpec,
    inputIds: string[],
    produces: Step['produces'],
    own: Record<string, unknown>,
  ) => {
    const keyInputs = {
      cacheFormat: CACHE_FORMAT,
      mcbuild: MCBUILD_VERSION,
      ...own,
      inputs: inputIds.map((i) => byId.get(i)!.key),
    };
    const step: Step = {
      id,
      title,
      spec,
      inputs: inputIds,
      produces,
      key: sha256Hex(canonicalJson(keyInputs)),
      keyInputs,
    };
    steps.push(step);
    byId.set(id, step);
    return step;
  };
  const numerics = { backend: inputs.backend, packages: inputs.packages };

  if (recipe.model.kind === 'file') {
    add('baseline', 'load baseline model', { kind: 'load', path: recipe.model.path }, [], 'model', {
      step: 'load',
      modelDigest: inputs.modelDigest,
    });
  } else {
    const t = recipe.model.train;
    const shape = datasetShape(t.data, inputs.datasets);
    if (shape.numClasses === undefined) {
      const at = formatPosition(
        recipe.source.positionOf(t.data.dataset === 'mnist' ? ['model', 'train'] : ['data', 'train']),
      );
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`model.train\` at ${formatPosition(recipe.source.positionOf(['model', 'train']))} trains a classifier on labels, but its data (${describeDataset(t.data)}, set at ${at}) has none. Give data.train labels (class folders, or a \`y\` array), or start from a trained model with \`model.path\`.`,
      );
    }
    const misfit = architectureMisfit(t.architecture, shape.inputShape, t.options);
    if (misfit) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${misfit} at ${formatPosition(recipe.source.positionOf(['model', 'train', 'architecture']))}; choose an architecture that fits the data.`,
      );
    }
    add('baseline', `train baseline ${t.architecture}`, { kind: 'train', train: t }, [], 'model', {
      step: 'train',
      trainVersion: TRAIN_VERSION,
      ...t,
      data: datasetFingerprint(t.data, inputs.datasets),
      ...numerics,
    });
  }

  const latency = recipe.runtime.latency;
  // `model.outputs`: which outputs the eval steps measure, in their keys.
  const measured = recipe.model.kind === 'file' && recipe.model.outputs ? { outputs: recipe.model.outputs } : {};
  // Where those outputs are in the source model (fitRecipeToModel checked the names): not in the key, as the
  // model and the names are.
  const names = inputs.signature?.outputs.map((o) => o.name);
  const positions = measured.outputs && names ? { outputPositions: measured.outputs.map((n) => names.indexOf(n)) } : {};
  const evalOwn = (data: DataSpec) => ({
    step: 'eval',
    metrics: METRICS_VERSION,
    data: datasetFingerprint(data, inputs.datasets),
    ...numerics,
    ...(latency ? { latency } : {}),
    ...measured,
  });
  const evalTitle = (who: string) => `evaluate ${who} on ${describeDataset(recipe.data.eval)}`;
  if (!datasetLabelled(recipe.data.eval, inputs.datasets)) checkLabelFree(recipe);
  add(
    'eval-baseline',
    evalTitle('baseline'),
    {
      kind: 'eval',
      role: 'baseline',
      data: recipe.data.eval,
      ...(latency ? { latency } : {}),
      ...measured,
      ...positions,
    },
    ['baseline'],
    'metrics',
    evalOwn(recipe.data.eval),
  );

  checkOverrides(recipe);
  const previous = planPasses(recipe, 'baseline', {
    ...(inputs.layers ? { layers: inputs.layers } : {}),
    ...(inputs.datasets ? { datasets: inputs.datasets } : {}),
    modelKind: inputs.modelKind ?? 'layers',
    numerics,
    ...(options.allowEmptyPasses ? { allowEmpty: true } : {}),
    add: (id, title, spec, inputIds, own) => add(id, title, spec, inputIds, 'model', own),
  });

  // It reads the baseline's eval too: fidelity compares the two models' outputs on the same samples.
  add(
    'eval-result',
    evalTitle('result'),
    {
      kind: 'eval',
      role: 'result',
      data: recipe.data.eval,
      ...(latency ? { latency } : {}),
      ...measured,
      ...positions,
    },
    [previous, 'eval-baseline'],
    'metrics',
    evalOwn(recipe.data.eval),
  );
  // Only a latency threshold pays for the side-by-side timing; its value is in no key (editing it re-gates),
  // the batch sizes and run counts it times are.
  let latencyCompare: string | undefined;
  if (recipe.thresholds.latency) {
    latencyCompare = 'latency';
    add(
      latencyCompare,
      `time baseline and result interleaved on ${describeDataset(recipe.data.eval)}`,
      { kind: 'latency', data: recipe.data.eval, ...(latency ? { latency } : {}) },
      ['baseline', previous],
      'metrics',
      {
        step: 'latency',
        latencyVersion: LATENCY_COMPARE_VERSION,
        data: datasetFingerprint(recipe.data.eval, inputs.datasets),
        ...numerics,
        ...(latency ? { latency } : {}),
      },
    );
  }
  return {
    recipe,
    backend: inputs.backend,
    packages: inputs.packages,
    steps,
    baselineEval: 'eval-baseline',
    resultEval: 'eval-result',
    finalModel: previous,
    ...(latencyCompare ? { latencyCompare } : {}),
  };
}
