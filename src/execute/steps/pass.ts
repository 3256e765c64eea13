/**
 * A pass step: the pass applied to its input model with the options, per-layer resolution and data slices
 * the step carries. Override blocks are resolved against the layers of the model the pass really receives
 * (planning only predicted them), and errors point at the recipe lines the step recorded.
 */
import type { CacheEntry } from '../../cache/index.js';
import type { Dataset } from '../../data/index.js';
import { filesToModel, keepStoredForms, modelLayers, modelToFiles, type WeightChanges } from '../../model/index.js';
import { EmptyPassError, McbError } from '../../errors.js';
import { measureRawSize } from '../../metrics/index.js';
import { getPass, type PassData } from '../../passes/index.js';
import type { PassSpec, Step } from '../../plan/index.js';
import { layerResolver, ruleMatches, unmatchedRuleMessage } from '../../plan/layers.js';
import { optionsPlace } from '../../plan/index.js';
import { formatDataPath, formatPosition, RecordedSource, type DataPath } from '../../recipe/index.js';
import type { StepRuntime } from './runtime.js';
import { loadChecked } from './slices.js';
import { changedNothing, emptyPassMessage, emptyPassWarning } from './empty-pass.js';

export async function runPass(step: Step, spec: PassSpec, inputs: CacheEntry[], rt: StepRuntime): Promise<CacheEntry> {
  const pass = getPass(spec.pass);
  if (!pass) throw new McbError('MCB_RECIPE_INVALID', `${step.title}: this mcbuild has no pass named ${spec.pass}.`);
  const input = filesToModel(inputs[0]!.files);
  const source = new RecordedSource(Object.values(spec.places)[0]?.file ?? '', spec.places);
  const place = optionsPlace(source, spec.index, spec.pass);
  const at = (p: DataPath) => formatPosition(source.positionOf(p));
  // The same resolution the planner showed, now against the layers of the model this pass really receives.
  const actual = modelLayers(input.json, input.weightSpecs);
  // Planning predicted these layers; a block that matches none of the real ones would silently do nothing.
  for (const rule of spec.rules ?? []) {
    if (!actual.some((l) => ruleMatches(rule, l)))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        unmatchedRuleMessage(rule, spec.pass, actual, at(['overrides', rule.block]), 'running'),
      );
  }
  const layers = layerResolver(pass, { path: place.path, raw: spec.raw }, spec.options, spec.rules ?? [], actual, at);
  const datasets = new Map<PassData, Promise<Dataset>>();
  const keyedData = step.keyInputs.data as Record<string, unknown> | undefined;
  const out = await pass.apply(input, spec.options, {
    engine: rt.engine,
    signal: rt.signal,
    progress: rt.progress,
    place,
    layerOptions: layers.optionsFor,
    model: (name) => {
      // The planner put every model the pass declares it reads among the step's inputs, after its own.
      const at = spec.models?.[name] === undefined ? -1 : step.inputs.indexOf(spec.models[name]);
      if (at < 0)
        throw new Error(`${step.id}: the ${spec.pass} pass read a model named ${name}, which it does not declare`);
      return Promise.resolve(filesToModel(inputs[at]!.files));
    },
    data: (kind) => {
      const slice = spec.data?.[kind];
      // The planner puts every slice the pass declares it reads on the step.
      if (!slice) throw new Error(`${step.id}: the ${spec.pass} pass read data.${kind}, which it does not declare`);
      const ds = datasets.get(kind) ?? loadChecked(slice, keyedData?.[kind], rt.slices);
      datasets.set(kind, ds);
      return ds;
    },
  });
  // Passes that rebuild the model keep an earlier `shard` size.
  if (out.model.shardBytes === undefined && input.shardBytes !== undefined) out.model.shardBytes = input.shardBytes;
  // Tensors the pass did not change keep the form the source stored them in; what it changed is counted.
  const { model, changes } = keepStoredForms(input, out.model);
  const warnings: string[] = [];
  let empty: string | undefined;
  if (changedNothing(input, model, changes)) {
    if (pass.meta.mayBeEmpty === undefined) {
      const skipped = actual.filter((l) => layers.optionsFor(l.name) === null).map((l) => l.name);
      const message = emptyPassMessage({
        pass: spec.pass,
        at: place.at(),
        input,
        changes,
        stats: out.stats,
        layers: actual.length,
        skipped,
      });
      if (!spec.allowEmpty) throw new EmptyPassError(step.id, message);
      empty = message;
    } else warnings.push(emptyPassWarning(spec.pass, place.at(), pass.meta.mayBeEmpty));
  }
  const files = modelToFiles(model);
  const overridden = layers.overridden().map(({ layer, skip, raw, setBy }) => ({
    layer,
    ...(skip ? { skip } : { options: raw }),
    setBy: Object.fromEntries(Object.entries(setBy).map(([k, p]) => [k, formatDataPath(p)])),
  }));
  return {
    files,
    meta: {
      ...measureRawSize(files, model),
      stats: out.stats,
      changed: changeCounts(changes),
      ...(spec.rules ? { overridden } : {}),
      ...(warnings.length ? { warnings } : {}),
      ...(empty === undefined ? {} : { empty }),
    },
  };
}

/** Step meta `changed`: what report.json's `passes[].changed` and the build table show. */
function changeCounts(c: WeightChanges): Record<string, number> {
  return {
    tensors: c.tensors,
    params: c.params,
    totalTensors: c.totalTensors,
    totalParams: c.totalParams,
    ...(c.kept ? { keptStoredForm: c.kept } : {}),
    ...(c.regridded ? { changedInSourceForm: c.regridded } : {}),
  };
}
