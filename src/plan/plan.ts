/**
 * The planner: a pure function from a recipe (and the facts gathered by gatherPlanInputs) to a DAG of steps,
 * each with a content key. No TF.js, no writes, no clock: the same recipe and inputs give the same plan.
 *
 *   baseline (load | train) ──▶ eval-baseline
 *        └──▶ pass-1-<name> ──▶ … ──▶ pass-n-<name> ──▶ eval-result
 *                                                  (gate and export follow, uncached)
 */
import type { DataSpec, PassEntry, Recipe, TrainSpec } from '../recipe/index.js';
import { formatDataPath, formatPosition, type DataPath } from '../recipe/index.js';
import { datasetFingerprint, datasetLabelled, datasetShape, describeDataset } from '../data/index.js';
import { architectureMisfit } from '../engine/index.js';
import { McbError } from '../errors.js';
import { namedMetric } from '../metrics/named.js';
import { getPass, type BuiltinArchitecture, type OptionsPlace } from '../passes/index.js';
import { MCBUILD_VERSION } from '../version.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import type { PlanInputs } from './inputs.js';
import {
  compilePattern,
  describeLayers,
  hashedRules,
  layerResolver,
  ruleMatches,
  rulesFor,
  unmatchedPatterns,
  unmatchedRuleMessage,
  withOption,
  type LayerRule,
  type ResolvedLayer,
} from './layers.js';
import type { ModelLayer } from '../model/index.js';

/** Bump when the layout of cache entries changes: old entries then simply miss. */
export const CACHE_FORMAT = 1;
/**
 * Bump when what an eval step measures changes. 2: gzip and brotli transfer sizes, per-file sizes. 3: MACs
 * and FLOPs from the topology, measured latency at batch 1 and 32. 4: top-k and per-class accuracy, non-zero
 * parameters, the outputs kept for fidelity (agreement, KL) to the baseline.
 */
export const METRICS_VERSION = 4;
/** Bump when the interleaved latency comparison changes what it measures or how. */
export const LATENCY_COMPARE_VERSION = 1;
/** Bump when the training loop or a builtin architecture changes what it produces for the same options. */
export const TRAIN_VERSION = 2;

export type StepSpec =
  | { kind: 'load'; path: string }
  | { kind: 'train'; train: TrainSpec }
  | { kind: 'pass'; pass: string; index: number; options: object; rules?: LayerRule[] }
  | { kind: 'eval'; role: 'baseline' | 'result'; data: DataSpec }
  | { kind: 'latency'; data: DataSpec };

export interface Step {
  /** Stable, readable id: baseline, eval-baseline, pass-1-quantize, eval-result. */
  id: string;
  title: string;
  spec: StepSpec;
  /** Ids of the steps whose outputs this one reads. */
  inputs: string[];
  produces: 'model' | 'metrics';
  /** sha256 of canonicalJson(keyInputs). */
  key: string;
  /** Everything the key hashes, for `explain` and debugging. */
  keyInputs: Record<string, unknown>;
  /** Pass steps of a recipe with overrides: the layers the planner expects the pass to receive, and their resolution. */
  layerPlan?: LayerPlan;
}

export interface LayerPlan {
  /** The layers of the pass's input model as the planner predicts them; undefined after a pass that makes them unknowable (distill). */
  layers?: ModelLayer[];
  /** Those layers an override block touched, with their options and where each was written. */
  overridden: ResolvedLayer[];
}

export interface Plan {
  recipe: Recipe;
  backend: PlanInputs['backend'];
  packages: Record<string, string>;
  /** Topologically ordered. */
  steps: Step[];
  baselineEval: string;
  resultEval: string;
  finalModel: string;
  /** The interleaved baseline/result timing, planned only when `thresholds.latency` gates on it. */
  latencyCompare?: string;
}

export function plan(recipe: Recipe, inputs: PlanInputs): Plan {
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
  const evalOwn = (data: DataSpec) => ({
    step: 'eval',
    metrics: METRICS_VERSION,
    data: datasetFingerprint(data, inputs.datasets),
    ...numerics,
    ...(latency ? { latency } : {}),
  });
  const evalTitle = (who: string) => `evaluate ${who} on ${describeDataset(recipe.data.eval)}`;
  const labelled = (kind: 'eval' | 'calibration' | 'train') => datasetLabelled(recipe.data[kind]!, inputs.datasets);
  if (!labelled('eval')) checkLabelFree(recipe);
  add(
    'eval-baseline',
    evalTitle('baseline'),
    { kind: 'eval', role: 'baseline', data: recipe.data.eval },
    ['baseline'],
    'metrics',
    evalOwn(recipe.data.eval),
  );

  checkOverrides(recipe);
  // The layers each pass receives, as far as planning can know them (only gathered when there are overrides).
  let layers: ModelLayer[] | undefined = inputs.layers;
  const seenBy = new Map<number, ModelLayer[][] | 'unknown'>();
  // Blocks that match no predicted layer at a pass they configure: refused after the per-pattern check below.
  const idle: { rule: LayerRule; pass: string; layers: ModelLayer[] }[] = [];
  const at = (path: DataPath) => formatPosition(recipe.source.positionOf(path));
  let previous = 'baseline';
  // The builtin architecture of the model each pass receives, for options relative to it (distill's `width`).
  let architecture: BuiltinArchitecture | undefined =
    recipe.model.kind === 'train'
      ? { architecture: recipe.model.train.architecture, options: recipe.model.train.options }
      : undefined;
  const modelAt = formatPosition(
    recipe.source.positionOf(['model', recipe.model.kind === 'file' ? 'path' : 'train'], { key: false }),
  );
  for (const entry of recipe.passes) {
    const pass = getPass(entry.name);
    if (!pass) throw new Error(`schema admitted unknown pass ${entry.name}`); // the schema's enum prevents this
    const place = optionsPlace(recipe, entry.index, entry.name);
    const options = pass.resolveOptions(entry.rawOptions, place, {
      ...(architecture ? { architecture } : {}),
      modelAt,
    });
    if (entry.search) checkSearch(recipe, entry, place);
    architecture = pass.architectureAfter?.(options) ?? architecture;
    const needs = pass.needsFor?.(options) ?? pass.needs;
    for (const kind of needs) {
      if (!recipe.data[kind]) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `the ${entry.name} pass at ${place.at()} reads data.${kind}, which the recipe does not set; add it, e.g. \`data: { ${kind}: { dataset: mnist, split: train } }\`.`,
        );
      }
    }
    for (const kind of pass.labelsFor?.(options) ?? []) {
      if (!labelled(kind)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `the ${entry.name} pass at ${place.at()} ${pass.labelsWhy ?? 'trains on labels'}, but data.${kind} (${describeDataset(recipe.data[kind]!)}, set at ${formatPosition(recipe.source.positionOf(['data', kind]))}) has none. Give data.${kind} labels (class folders, or a \`y\` array)${pass.labelFreeHint ? `, or ${pass.labelFreeHint}` : ''}.`,
        );
      }
    }
    const id = `pass-${entry.index + 1}-${entry.name}`;
    const data = Object.fromEntries(
      needs.map((kind) => [kind, datasetFingerprint(recipe.data[kind]!, inputs.datasets)]),
    );
    const rules = rulesFor(recipe.overrides, entry.name, entry.index);
    let layerPlan: LayerPlan | undefined;
    let layersAfter = layers;
    if (inputs.layers) {
      // Resolve every predicted layer now, so a bad merged option fails the plan instead of a later step.
      const resolver = layerResolver(
        pass,
        { path: place.path, raw: entry.rawOptions },
        options,
        rules,
        layers ?? [],
        at,
        { ...(architecture ? { architecture } : {}), modelAt },
      );
      if (layers) for (const l of layers) resolver.optionsFor(l.name);
      for (const r of rules) {
        const seen = seenBy.get(r.block);
        if (!layers) seenBy.set(r.block, 'unknown');
        else if (seen !== 'unknown') seenBy.set(r.block, [...(seen ?? []), layers]);
        if (layers && !layers.some((l) => ruleMatches(r, l))) idle.push({ rule: r, pass: entry.name, layers });
      }
      layerPlan = { ...(layers ? { layers } : {}), overridden: resolver.overridden() };
      // A pass that builds a new model (distill's student) makes the layers after it unknown until it runs;
      // the executor checks the blocks of later passes against the real model.
      layersAfter = pass.architectureAfter
        ? undefined
        : layers && (pass.layersAfter ? pass.layersAfter(layers, options, resolver.optionsFor) : layers);
    }
    const step = add(
      id,
      `${entry.name} ${summarise(options)}${rules.length ? ` + ${rules.length} override${rules.length > 1 ? 's' : ''}` : ''}`.trim(),
      { kind: 'pass', pass: entry.name, index: entry.index, options, ...(rules.length ? { rules } : {}) },
      [previous],
      'model',
      {
        step: 'pass',
        pass: entry.name,
        passVersion: pass.version,
        options,
        ...(rules.length ? { overrides: hashedRules(rules) } : {}),
        ...(needs.length ? { data } : {}),
        ...((pass.dependsOnBackendFor?.(options) ?? pass.dependsOnBackend) ? numerics : {}),
      },
    );
    if (layerPlan) step.layerPlan = layerPlan;
    layers = layersAfter;
    previous = id;
  }

  if (inputs.layers) {
    for (const block of recipe.overrides) {
      const seen = seenBy.get(block.index);
      if (!seen || seen === 'unknown') continue;
      const union = [...new Map(seen.flat().map((l) => [l.name, l])).values()];
      const missing = unmatchedPatterns(block, union)[0];
      if (missing) {
        const what = missing.path[2] === 'classes' ? 'layer class' : 'layer pattern';
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${what} ${JSON.stringify(missing.pattern)} at ${at(missing.path)} matches no layer of the model${seen.length > 1 ? ' at any pass it configures' : ''}; the closest are ${missing.closest.map((n) => JSON.stringify(n)).join(', ')} (of ${describeLayers(union)}). Fix the name, or remove it.`,
        );
      }
    }
    const first = idle[0];
    if (first)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        unmatchedRuleMessage(first.rule, first.pass, first.layers, at(['overrides', first.rule.block]), 'planned'),
      );
  }

  // It reads the baseline's eval too: fidelity compares the two models' outputs on the same samples.
  add(
    'eval-result',
    evalTitle('result'),
    { kind: 'eval', role: 'result', data: recipe.data.eval },
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
      { kind: 'latency', data: recipe.data.eval },
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

/** An `auto` option must be one the pass takes per layer, and every candidate a valid value for it. */
function checkSearch(recipe: Recipe, entry: PassEntry, place: OptionsPlace): void {
  const { option, candidates } = entry.search!;
  const pass = getPass(entry.name)!;
  if (!pass.perLayer?.includes(option)) {
    const takes = pass.perLayer?.length
      ? `it chooses per layer only ${pass.perLayer.join(', ')}`
      : 'the pass takes no per-layer options';
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath([...place.path, option])}\` is auto at ${place.at(option)}, but the search cannot choose ${entry.name}'s ${option} per layer (${takes}); write a value.`,
    );
  }
  candidates.forEach((value, j) => {
    const at = () => formatPosition(recipe.source.positionOf([...place.path, 'candidates', j]));
    pass.resolveOptions(withOption(entry.rawOptions, option, value, pass.exclusiveOptions), {
      path: place.path,
      at: (o) => (o === option ? at() : place.at(o)),
    });
  });
}

/** Override blocks must configure passes the recipe runs, with options those passes take per layer. */
function checkOverrides(recipe: Recipe): void {
  const at = (path: DataPath) => formatPosition(recipe.source.positionOf(path, { key: true }));
  const inRecipe = new Set(recipe.passes.map((p) => p.name));
  for (const block of recipe.overrides) {
    // Compile every pattern here, so a bad regex is reported at its own position.
    block.layers?.forEach((p, i) => compilePattern(p, () => at(['overrides', block.index, 'layers', i])));
    if (block.pass !== undefined) {
      const target = recipe.passes[block.pass];
      const path: DataPath = ['overrides', block.index, 'pass'];
      if (!target)
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`${formatDataPath(path)}\` at ${at(path)} is ${block.pass}, but \`passes\` has ${recipe.passes.length} entries (indices from 0); name one of them.`,
        );
      const others = Object.keys(block.passes).filter((n) => n !== target.name);
      if (others.length) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`overrides[${block.index}]\` at ${at(['overrides', block.index])} applies only to passes[${block.pass}] (${target.name}) but configures ${others.join(', ')}; move ${others.length > 1 ? 'those' : 'that'} to another block.`,
        );
      }
    }
    for (const [name, set] of Object.entries(block.passes)) {
      const path: DataPath = ['overrides', block.index, name];
      if (!inRecipe.has(name)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`${formatDataPath(path)}\` at ${at(path)} configures the ${name} pass, which \`passes\` does not run; add the pass or remove it from the block (passes: ${[...inRecipe].join(', ') || 'none'}).`,
        );
      }
      const pass = getPass(name)!;
      if (!pass.perLayer) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`${formatDataPath(path)}\` at ${at(path)}: the ${name} pass acts on the whole model and takes no per-layer options; set its options in \`passes\` instead.`,
        );
      }
      if (set === 'skip') continue;
      for (const option of Object.keys(set)) {
        if (!pass.perLayer.includes(option)) {
          const allowed = pass.perLayer.length
            ? `it takes ${pass.perLayer.join(', ')} per layer, or skip`
            : 'it takes only `skip` per layer';
          throw new McbError(
            'MCB_RECIPE_INVALID',
            `\`${formatDataPath([...path, option])}\` at ${at([...path, option])}: ${name}'s ${option} applies to the whole model, not one layer (${allowed}); set it in \`passes\`.`,
          );
        }
      }
    }
  }
}

/** Where the options of pass entry `index` were written: for resolveOptions here, and for apply() in the executor. */
export function optionsPlace(recipe: Recipe, index: number, name: string): OptionsPlace {
  const path = ['passes', index, name];
  return {
    path,
    at: (option) =>
      formatPosition(recipe.source.positionOf(option === undefined ? path : [...path, option], { key: false })),
  };
}

/**
 * Label-free eval data measures fidelity only: a threshold on accuracy, or a search that ranks layers by it,
 * could never be met, so it is refused where it is written.
 */
function checkLabelFree(recipe: Recipe): void {
  const data = `data.eval (${describeDataset(recipe.data.eval)}, set at ${formatPosition(recipe.source.positionOf(['data', 'eval']))}) has no labels`;
  for (const key of Object.keys(recipe.thresholds.accuracy ?? {})) {
    if (key === 'significance') continue; // it qualifies maxDrop, which is reported
    const path = ['thresholds', 'accuracy', key];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path, { key: true }))} needs labels, but ${data}, so accuracy cannot be measured. Gate on fidelity to the baseline instead, e.g. \`fidelity: { minAgreement: 0.99, maxMeanKl: 0.01 }\`, or use labelled eval data.`,
    );
  }
  for (const name of Object.keys(recipe.thresholds.metrics ?? {})) {
    if (!namedMetric(name)?.needsLabels) continue;
    const path = ['thresholds', 'metrics', name];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path, { key: true }))} needs labels, but ${data}, so ${name} cannot be measured. Gate on fidelity to the baseline instead, e.g. \`metrics: { agreement: { min: 0.99 } }\`, or use labelled eval data.`,
    );
  }
  const searched = recipe.passes.find((p) => p.search);
  if (searched) {
    const path = ['passes', searched.index, searched.name, searched.search!.option];
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(path)}\` at ${formatPosition(recipe.source.positionOf(path))} is auto: the search ranks layers by accuracy, but ${data}. Write a value, or use labelled eval data.`,
    );
  }
}

function summarise(options: object): string {
  const parts = Object.entries(options).map(
    ([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
  );
  return parts.length ? `(${parts.join(', ')})` : '';
}
