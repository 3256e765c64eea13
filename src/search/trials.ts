/**
 * Recipes made from a recipe, for the sensitivity scan and the accuracy-driven search: the same recipe with
 * extra override blocks that set one pass's option per layer (or skip it), optionally cut after that pass.
 * They go through the normal plan → execute path, so every trial is cached by its step keys like any build:
 * scanning again, or searching after a scan, recomputes nothing.
 */
import { runRecipe, type BuildOptions } from '../pipeline/index.js';
import { McbError } from '../errors.js';
import { elementCount, weightLayer, filesToModel, modelLayers, type ModelLayer } from '../model/index.js';
import type { Metrics } from '../metrics/index.js';
import type { OverrideBlock, Recipe } from '../recipe/index.js';

export type SettingValue = string | number;

export interface TrialSpec {
  /** Index of the pass in `passes` whose option is set per layer. */
  passIndex: number;
  option: string;
  /** Layer → value; layers not listed take the pass entry's own value. */
  values: ReadonlyMap<string, SettingValue>;
  /** Skip the pass for every layer not in `values` (the scan's "only this layer is compressed"). */
  skipOthers?: boolean;
  /** Drop the passes after this one (the scan measures the pass alone, not what follows it). */
  truncate?: boolean;
}

export interface TrialOutcome {
  accuracy: number;
  sizeBytes: number;
  gzipBytes: number;
  pass: boolean;
  /** Every threshold other than size holds: compressing further can only fix a missed size threshold. */
  holdsAccuracy: boolean;
  baseline: Metrics;
  /** The files of the trial's final model (the scan reads the layers of the pass's output from them). */
  finalModel: Map<string, Uint8Array>;
  /** Steps computed (not cache hits), for the caller's progress line. */
  ran: number;
  /** Why a pass of the trial changed nothing, when one did (a build of it would fail, exit 2). */
  empty?: string[];
}

/** A pattern that matches exactly this name, even if it contains glob characters. */
export function exactPattern(name: string): string {
  return /[*?]/.test(name) || name.startsWith('re:') ? `re:${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}` : name;
}

/** The recipe with `spec`'s blocks appended after its own overrides (so they win), one block per value. */
export function trialRecipe(recipe: Recipe, spec: TrialSpec): Recipe {
  const pass = recipe.passes[spec.passIndex]!.name;
  const passes = (spec.truncate ? recipe.passes.slice(0, spec.passIndex + 1) : recipe.passes).map(
    ({ search: _search, ...entry }) => entry,
  );
  // The recipe's own blocks keep their indices (they name places in the file); settings for passes cut off go.
  const kept = new Set(passes.map((p) => p.name));
  const blocks: OverrideBlock[] = recipe.overrides
    .filter((b) => b.pass === undefined || b.pass < passes.length)
    .map((b) => ({ ...b, passes: Object.fromEntries(Object.entries(b.passes).filter(([name]) => kept.has(name))) }))
    .filter((b) => Object.keys(b.passes).length > 0);
  let next = recipe.overrides.length;
  // A recipe that runs this pass more than once: the blocks must reach this entry only.
  const only = recipe.passes.filter((p) => p.name === pass).length > 1 ? { pass: spec.passIndex } : {};
  const add = (layers: string[], set: OverrideBlock['passes'][string]) =>
    blocks.push({ index: next++, layers, ...only, passes: { [pass]: set } });
  if (spec.skipOthers) add(['re:.*'], 'skip');
  const byValue = new Map<SettingValue, string[]>();
  for (const [layer, v] of spec.values) byValue.set(v, [...(byValue.get(v) ?? []), exactPattern(layer)]);
  for (const [v, layers] of byValue) add(layers, { [spec.option]: v });
  return { ...recipe, passes, overrides: blocks };
}

export async function runTrial(recipe: Recipe, spec: TrialSpec, opts: BuildOptions): Promise<TrialOutcome> {
  // The scan's reference skips every layer on purpose; an empty pass is the trial's result, not an error.
  const { plan, execution, verdict } = await runRecipe(trialRecipe(recipe, spec), { ...opts, allowEmptyPasses: true });
  const empty = plan.steps.flatMap((s) => {
    const why = execution.stepMeta[s.id]?.empty;
    return typeof why === 'string' ? [why] : [];
  });
  const r = execution.result;
  // The plan refuses `auto` with label-free eval data; `mcbuild sensitivity` reaches here directly.
  if (r.accuracy === undefined) {
    throw new McbError(
      'MCB_USAGE',
      `the sensitivity scan and the search rank layers by accuracy, but data.eval of ${recipe.name} (${recipe.file}) has no labels. Use labelled eval data for them.`,
    );
  }
  const holdsAccuracy = verdict.checks.filter((c) => !c.name.startsWith('size.')).every((c) => c.pass);
  return {
    accuracy: r.accuracy,
    sizeBytes: r.sizeBytes,
    gzipBytes: r.gzipBytes,
    pass: verdict.pass,
    holdsAccuracy,
    baseline: execution.baseline,
    finalModel: execution.finalModel,
    ran: execution.ran.length,
    ...(empty.length ? { empty } : {}),
  };
}

/** Layers of a model with a kernel (Dense, Conv2D, DepthwiseConv2D, …), with their parameter counts. */
export function kernelLayers(files: ReadonlyMap<string, Uint8Array>): (ModelLayer & { params: number })[] {
  const model = filesToModel(files);
  const params = new Map<string, number>();
  const withKernel = new Set<string>();
  for (const w of model.weightSpecs) {
    const layer = weightLayer(w.name);
    if (layer === undefined) continue;
    params.set(layer, (params.get(layer) ?? 0) + elementCount(w.shape));
    if (/(^|\/)(depthwise_)?kernel$/.test(w.name)) withKernel.add(layer);
  }
  return modelLayers(model.json, model.weightSpecs)
    .filter((l) => withKernel.has(l.name))
    .map((l) => ({ ...l, params: params.get(l.name) ?? 0 }));
}
