/**
 * The pass steps of a plan: each entry of `passes` resolved by its pass, checked against the data it reads,
 * its override blocks resolved against the layers the planner predicts it receives, and made into a step
 * that carries everything its run needs.
 */
import { datasetFingerprint, datasetLabelled, describeDataset, type DatasetFactsMap } from '../data/index.js';
import { McbError } from '../errors.js';
import { getPass, type AnyPass, type BuiltinArchitecture, type ModelKind, type PassData } from '../passes/index.js';
import { formatPosition, type DataPath, type DataSpec, type Recipe } from '../recipe/index.js';
import { checkSearch } from './checks.js';
import {
  describeLayers,
  hashedRules,
  layerResolver,
  ruleMatches,
  rulesFor,
  unmatchedPatterns,
  unmatchedRuleMessage,
  type LayerRule,
} from './layers.js';
import type { ModelLayer } from '../model/index.js';
import { optionsPlace, passPlaces } from './places.js';
import { GRAPH_READER_VERSION, type LayerPlan, type PassSpec, type Step } from './types.js';

export interface PassPlanning {
  /** The baseline's layers, when gathered (a recipe with overrides): overrides are resolved against them. */
  layers?: ModelLayer[];
  /** The baseline's format: a pass that cannot work on it is refused at its line. */
  modelKind: ModelKind;
  datasets?: DatasetFactsMap;
  /** backend and packages, for passes whose output depends on TF.js numerics. */
  numerics: Record<string, unknown>;
  /** A pass that changes nothing is recorded, not refused (the scan's and the search's trials). */
  allowEmpty?: boolean;
  /** Adds a step reading `inputs` (its input model first); returns it. */
  add(id: string, title: string, spec: PassSpec, inputs: string[], own: Record<string, unknown>): Step;
}

/** Plans every pass entry in order after `first`; returns the id of the last model step. */
export function planPasses(recipe: Recipe, first: string, p: PassPlanning): string {
  // The layers each pass receives, as far as planning can know them (only gathered when there are overrides).
  let layers: ModelLayer[] | undefined = p.layers;
  const seenBy = new Map<number, ModelLayer[][] | 'unknown'>();
  // Blocks that match no predicted layer at a pass they configure: refused after the per-pattern check below.
  const idle: { rule: LayerRule; pass: string; layers: ModelLayer[] }[] = [];
  const at = (path: DataPath) => formatPosition(recipe.source.positionOf(path));
  const labelled = (kind: PassData) => datasetLabelled(recipe.data[kind]!, p.datasets);
  let previous = first;
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
    const place = optionsPlace(recipe.source, entry.index, entry.name);
    // The registry holds passes of every options type; the pass's own functions below read what it resolved.
    // Where the entry stands and what data has labels: options may name an earlier model or default by it.
    const context = {
      entry: { index: entry.index, passes: recipe.passes.map((e) => e.name) },
      labelled: (kind: PassData) => (recipe.data[kind] ? labelled(kind) : undefined),
    };
    const options = pass.resolveOptions(entry.rawOptions, place, {
      ...(architecture ? { architecture } : {}),
      modelAt,
      ...context,
      kind: p.modelKind,
    }) as object;
    if (entry.search) checkSearch(recipe, entry, place);
    checkModelKind(pass, p.modelKind, place.at(), modelAt);
    architecture = pass.architectureAfter?.(options) ?? architecture;
    const needs = pass.needs?.(options) ?? [];
    for (const kind of needs) {
      if (!recipe.data[kind]) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `the ${entry.name} pass at ${place.at()} reads data.${kind}, which the recipe does not set; add it, e.g. \`data: { ${kind}: { dataset: mnist, split: train } }\`.`,
        );
      }
    }
    for (const kind of pass.labels?.reads(options) ?? []) {
      if (!labelled(kind)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `the ${entry.name} pass at ${place.at()} ${pass.labels?.why ?? 'trains on labels'}, but data.${kind} (${describeDataset(recipe.data[kind]!)}, set at ${formatPosition(recipe.source.positionOf(['data', kind]))}) has none. Give data.${kind} labels (class folders, or a \`y\` array)${pass.labels?.labelFreeHint ? `, or ${pass.labels.labelFreeHint}` : ''}.`,
        );
      }
    }
    const id = passStepId(entry.index, entry.name);
    const models = earlierModels(recipe, pass, options, entry.index, place.at());
    const read: Partial<Record<PassData, DataSpec>> = Object.fromEntries(
      needs.map((kind) => [kind, recipe.data[kind]!]),
    );
    const data = Object.fromEntries(needs.map((kind) => [kind, datasetFingerprint(recipe.data[kind]!, p.datasets)]));
    const rules = rulesFor(recipe.overrides, entry.name, entry.index);
    let layerPlan: LayerPlan | undefined;
    let layersAfter = layers;
    if (p.layers) {
      // Resolve every predicted layer now, so a bad merged option fails the plan instead of a later step.
      const resolver = layerResolver(
        pass,
        { path: place.path, raw: entry.rawOptions },
        options,
        rules,
        layers ?? [],
        at,
        { ...(architecture ? { architecture } : {}), modelAt, ...context },
      );
      if (layers) for (const l of layers) resolver.optionsFor(l.name);
      if (layers && !p.allowEmpty)
        refuseSkippingAll(pass, entry.name, place.at(), layers, rules, resolver.optionsFor, at);
      for (const r of rules) {
        const seen = seenBy.get(r.block);
        if (!layers) seenBy.set(r.block, 'unknown');
        else if (seen !== 'unknown') seenBy.set(r.block, [...(seen ?? []), layers]);
        if (layers && !layers.some((l) => ruleMatches(r, l))) idle.push({ rule: r, pass: entry.name, layers });
      }
      layerPlan = { ...(layers ? { layers } : {}), overridden: resolver.overridden() };
      // A pass that builds a new model (distill's student) makes the layers after it unknown until it runs;
      // the runner checks the blocks of later passes against the real model.
      layersAfter = pass.architectureAfter
        ? undefined
        : layers && (pass.layersAfter ? pass.layersAfter(layers, options, resolver.optionsFor) : layers);
    }
    const spec: PassSpec = {
      kind: 'pass',
      pass: entry.name,
      index: entry.index,
      options,
      raw: entry.rawOptions,
      ...(rules.length ? { rules } : {}),
      ...(needs.length ? { data: read } : {}),
      ...(Object.keys(models).length ? { models } : {}),
      places: passPlaces(recipe.source, entry, rules),
      ...(p.allowEmpty ? { allowEmpty: true as const } : {}),
    };
    const overrides = rules.length ? ` + ${rules.length} override${rules.length > 1 ? 's' : ''}` : '';
    // The models it reads go in as inputs after its own: their keys are in its key.
    const inputs = [previous, ...new Set(Object.values(models).filter((m) => m !== previous))];
    const step = p.add(id, `${entry.name} ${summarise(options)}${overrides}`.trim(), spec, inputs, {
      step: 'pass',
      pass: entry.name,
      passVersion: pass.meta.version,
      options,
      ...(rules.length ? { overrides: hashedRules(rules) } : {}),
      ...(needs.length ? { data } : {}),
      ...(pass.dependsOnBackend?.(options) ? p.numerics : {}),
      // Passes on graph models read kernels through their consuming ops since this version: results cached
      // before (which changed nothing) must not be reused. Layers models' keys stay as they were.
      ...(p.modelKind === 'graph' ? { graphReader: GRAPH_READER_VERSION } : {}),
    });
    if (layerPlan) step.layerPlan = layerPlan;
    layers = layersAfter;
    previous = id;
  }
  if (p.layers) checkBlocksMatch(recipe, seenBy, idle, at);
  return previous;
}

/**
 * A pass asked to change weights whose override blocks skip every layer it receives would change nothing: the
 * runner would fail its step (src/execute/steps/pass.ts); planning sees it first.
 */
function refuseSkippingAll(
  pass: AnyPass,
  name: string,
  passAt: string,
  layers: readonly ModelLayer[],
  rules: readonly LayerRule[],
  optionsFor: (layer: string) => unknown,
  at: (path: DataPath) => string,
): void {
  if (pass.meta.mayBeEmpty !== undefined || layers.length === 0 || !layers.every((l) => optionsFor(l.name) === null))
    return;
  const blocks = rules
    .filter((r) => r.set === 'skip')
    .map((r) => `overrides[${r.block}] at ${at(['overrides', r.block, name])}`);
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `the ${name} pass at ${passAt} would change nothing: ${blocks.join(', ')} skip${blocks.length === 1 ? 's' : ''} every layer of the model it receives (${describeLayers(layers)}). A pass asked to change weights that changes none builds a model that is not what the recipe says; narrow the blocks' layers, or remove the pass.`,
  );
}

/** A pass step's id: pass-2-quantize for the second entry. */
export function passStepId(index: number, name: string): string {
  return `pass-${index + 1}-${name}`;
}

function checkModelKind(pass: AnyPass, kind: ModelKind, passAt: string, modelAt: string): void {
  if (pass.meta.models.includes(kind)) return;
  const works = pass.meta.models.map((k) => `${k} models`).join(' and ');
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `the ${pass.meta.name} pass at ${passAt} works on ${works}, but the model (set at ${modelAt}) is a ${kind} model${pass.meta.refuses?.[kind] ? `: ${pass.meta.refuses[kind]}` : ''}; ${kind === 'graph' ? 'start from the layers model the graph was converted from, or remove the pass' : 'remove the pass'}.`,
  );
}

/** The step ids of the earlier models a pass reads, by the names it gave them. */
function earlierModels(
  recipe: Recipe,
  pass: AnyPass,
  options: object,
  index: number,
  passAt: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, ref] of Object.entries(pass.models?.(options) ?? {})) {
    if (ref === 'baseline') {
      out[name] = 'baseline';
      continue;
    }
    const earlier = recipe.passes[ref.pass];
    if (!earlier || ref.pass >= index) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `the ${pass.meta.name} pass at ${passAt} reads the model of passes[${ref.pass}] as its ${name}, but ${earlier ? 'that entry does not run before it' : `\`passes\` has ${recipe.passes.length} entries`}; name an earlier entry (indices from 0), or \`baseline\`.`,
      );
    }
    out[name] = passStepId(ref.pass, earlier.name);
  }
  return out;
}

/** Every pattern of a block must match a layer at some pass it configures, and every block some layer there. */
function checkBlocksMatch(
  recipe: Recipe,
  seenBy: ReadonlyMap<number, ModelLayer[][] | 'unknown'>,
  idle: readonly { rule: LayerRule; pass: string; layers: ModelLayer[] }[],
  at: (path: DataPath) => string,
): void {
  for (const block of recipe.overrides) {
    const seen = seenBy.get(block.index);
    if (!seen || seen === 'unknown') continue;
    const union = [...new Map(seen.flat().map((l) => [l.name, l])).values()];
    const missing = unmatchedPatterns(block, union)[0];
    if (missing) {
      const what = missing.path[2] === 'classes' ? 'layer class' : missing.path[2] === 'ops' ? 'op' : 'layer pattern';
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${what} ${JSON.stringify(missing.pattern)} at ${at(missing.path)} matches no layer of the model${seen.length > 1 ? ' at any pass it configures' : ''}; ${missing.closest.length ? `the closest are ${missing.closest.map((n) => JSON.stringify(n)).join(', ')}` : missing.path[2] === 'ops' ? 'it has no ops: `ops` matches the nodes of a graph model' : 'there is nothing close'} (of ${describeLayers(union)}). Fix the name, or remove it.`,
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

function summarise(options: object): string {
  const parts = Object.entries(options).map(
    ([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
  );
  return parts.length ? `(${parts.join(', ')})` : '';
}
