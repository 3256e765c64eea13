/**
 * Accuracy-driven search for a pass option written `auto` (`quantize: { bits: auto, candidates: [8, 4, 2],
 * budget: thresholds }`): choose each layer's setting so the model is as small as possible while the recipe's
 * thresholds hold. Greedy, starting from the sensitivity scan:
 *
 *  1. scan: per layer and candidate, the accuracy drop with only that layer compressed (src/search/sensitivity.ts);
 *  2. start with every layer at the first (most conservative) candidate and build the whole recipe (every pass,
 *     including those after the searched one, e.g. a finetune); if that misses an accuracy threshold, nothing
 *     can pass (a missed size threshold is what the search is for: going on can fix it);
 *  3. repeatedly take the move "layer L one candidate further" with the most bytes saved per point of accuracy
 *     the scan says it costs (bytes from the scan's measured sizes: raw, or gzip when raw sizes are equal, as
 *     for pruning), build it, keep it when every threshold but size still holds, and otherwise never move L
 *     again;
 *  4. stop when no move is left, after `maxTrials` builds, or after `maxSeconds` (counted from the scan's start:
 *     a scan still running then stops, and only the start is built, which the build after the search needs anyway).
 *
 * The best plan is the smallest passing one seen (raw size, then gzip size, then accuracy), always kept and
 * reported even when the budget runs out or the search is cancelled (`onCancelled`). The caller writes it back
 * as a plain recipe with explicit overrides, so it can be reviewed and rebuilt without searching. When none
 * passes, the plan built is the smallest that held every threshold but size (`fallback`), else the start. A
 * knapsack over the scan would pick a plan in one go, but per-layer drops do not add up exactly; the greedy
 * loop checks every step against the real gate.
 */
import { stringify } from 'yaml';
import { isAbsolute, relative } from 'node:path';
import type { BuildOptions } from '../pipeline/index.js';
import { cancelled, isCancelled } from '../errors.js';
import { variantFolder, type Recipe } from '../recipe/index.js';
import { scanSensitivity, type Sensitivity } from './sensitivity.js';
import { runTrial, trialRecipe, type SettingValue, type TrialSpec } from './trials.js';

export interface SearchTrial {
  trial: number;
  /** "start", or the move tried: "fc_1 bits 8 → 4". */
  move: string;
  accuracy: number;
  sizeBytes: number;
  gzipBytes: number;
  /** Every threshold holds. */
  pass: boolean;
  /** The move was kept: every threshold but size holds. */
  kept: boolean;
  /** Set when a pass of the trial changed nothing: why (a build of this plan would fail, exit 2). Never kept. */
  empty?: string;
}

/** What the fallback build is when no plan passes but some held every threshold other than size. */
export const FALLBACK_REASON = 'smallest plan that holds the accuracy thresholds';

export interface SearchResult {
  pass: { index: number; name: string };
  option: string;
  candidates: SettingValue[];
  sensitivity: Sensitivity;
  trials: SearchTrial[];
  /** The best passing plan's per-layer settings, layers at the first candidate omitted; undefined if none passed. */
  chosen?: Record<string, SettingValue>;
  /**
   * Set when no plan passed but some held every threshold other than size: the smallest of those (closest to
   * passing) is what `recipe` builds instead of the start.
   */
  fallback?: { reason: string; trial: number; settings: Record<string, SettingValue> };
  /** The recipe that builds the best passing plan (else the fallback, else the starting plan). */
  recipe: Recipe;
  stoppedBecause: 'no moves left' | 'maxTrials' | 'maxSeconds' | 'nothing passes';
  /** Steps computed (not cache hits) over the scan and the trials. */
  ran: number;
}

export interface SearchOptions extends BuildOptions {
  onTrial?: (label: string) => void;
  /**
   * Called when the search is cancelled (`signal`) after it started trials, with what it found so far, before
   * the cancellation error is rethrown: a caller keeps a passing plan found before Ctrl-C.
   */
  onCancelled?: (partial: SearchResult) => Promise<void>;
}

type Outcome = { sizeBytes: number; gzipBytes: number; accuracy: number };
/** Smaller raw size, then smaller gzip size, then higher accuracy. */
const smaller = (a: Outcome, b: Outcome | undefined) =>
  !b ||
  a.sizeBytes < b.sizeBytes ||
  (a.sizeBytes === b.sizeBytes &&
    (a.gzipBytes < b.gzipBytes || (a.gzipBytes === b.gzipBytes && a.accuracy > b.accuracy)));

export async function searchRecipe(recipe: Recipe, opts: SearchOptions = {}): Promise<SearchResult> {
  const index = recipe.passes.findIndex((p) => p.search);
  const entry = recipe.passes[index]!;
  const spec = entry.search!;
  const started = performance.now();
  // maxSeconds bounds the whole search, the scan included.
  const deadline = spec.maxSeconds === undefined ? undefined : started + spec.maxSeconds * 1000;
  const sensitivity = await scanSensitivity(recipe, {
    ...opts,
    pass: String(index),
    option: spec.option,
    candidates: spec.candidates,
    ...(deadline === undefined ? {} : { deadline }),
    onTrial: (done, total, label) => opts.onTrial?.(`scan ${done + 1}/${total}: ${label}`),
  });
  let ran = sensitivity.ran;
  const cands = spec.candidates;
  const level = new Map(sensitivity.layers.map((l) => [l.layer, 0]));
  const frozen = new Set<string>();
  const trials: SearchTrial[] = [];
  const specOf = (levels: ReadonlyMap<string, number>): TrialSpec => ({
    passIndex: index,
    option: spec.option,
    values: new Map([...levels].filter(([, k]) => k > 0).map(([layer, k]) => [layer, cands[k]!])),
  });
  type Plan = Outcome & { levels: Map<string, number>; trial: number };
  /** The smallest passing plan, and the smallest that holds every threshold but size. */
  let best: Plan | undefined;
  let closest: Plan | undefined;

  const attempt = async (levels: Map<string, number>, move: string): Promise<boolean> => {
    if (opts.signal?.aborted) throw cancelled();
    opts.onTrial?.(`trial ${trials.length + 1}: ${move}`);
    const t = await runTrial(recipe, specOf(levels), opts);
    ran += t.ran;
    const plan = {
      levels: new Map(levels),
      sizeBytes: t.sizeBytes,
      gzipBytes: t.gzipBytes,
      accuracy: t.accuracy,
      trial: trials.length + 1,
    };
    // A plan whose pass changes nothing cannot be built: reported in its trial, never chosen or kept.
    const empty = t.empty?.[0];
    const holds = t.holdsAccuracy && empty === undefined;
    if (t.pass && holds && smaller(t, best)) best = plan;
    if (holds && smaller(t, closest)) closest = plan;
    trials.push({
      trial: plan.trial,
      move,
      accuracy: t.accuracy,
      sizeBytes: t.sizeBytes,
      gzipBytes: t.gzipBytes,
      pass: t.pass && empty === undefined,
      kept: holds,
      ...(empty === undefined ? {} : { empty }),
    });
    return holds;
  };

  const result = (stoppedBecause: SearchResult['stoppedBecause']): SearchResult => {
    const fallback = best ? undefined : closest;
    const chosenSpec = specOf((best ?? fallback)?.levels ?? new Map<string, number>());
    const settings = Object.fromEntries(chosenSpec.values);
    return {
      pass: { index, name: entry.name },
      option: spec.option,
      candidates: cands,
      sensitivity,
      trials,
      ...(best ? { chosen: settings } : {}),
      ...(fallback ? { fallback: { reason: FALLBACK_REASON, trial: fallback.trial, settings } } : {}),
      recipe: trialRecipe(recipe, chosenSpec),
      stoppedBecause,
      ran,
    };
  };

  let stoppedBecause: SearchResult['stoppedBecause'] = 'no moves left';
  try {
    // The start is built even when the scan ran out of time: the build that follows a search would build it anyway.
    if (!(await attempt(level, `start: every layer at ${spec.option} ${String(cands[0])}`))) {
      stoppedBecause = 'nothing passes';
    } else if (sensitivity.stopped) {
      stoppedBecause = 'maxSeconds';
    } else {
      // From here on the accuracy thresholds hold; moves stop at the first that breaks them, per layer.
      for (;;) {
        if (trials.length >= spec.maxTrials) {
          stoppedBecause = 'maxTrials';
          break;
        }
        if (deadline !== undefined && performance.now() >= deadline) {
          stoppedBecause = 'maxSeconds';
          break;
        }
        const move = bestMove(sensitivity, level, frozen, cands.length);
        if (!move) {
          if (!best) stoppedBecause = 'nothing passes';
          break;
        }
        const next = new Map(level).set(move.layer, move.to);
        if (
          await attempt(next, `${move.layer} ${spec.option} ${String(cands[move.to - 1])} → ${String(cands[move.to])}`)
        )
          level.set(move.layer, move.to);
        else frozen.add(move.layer);
      }
    }
  } catch (e) {
    // Ctrl-C: hand over what was found (a passing plan is worth keeping), then stop without building.
    if (isCancelled(e)) await opts.onCancelled?.(result(stoppedBecause));
    throw e;
  }
  return result(stoppedBecause);
}

/** The untried move with the most bytes saved per point of accuracy lost in the scan; undefined when none is left. */
function bestMove(
  s: Sensitivity,
  level: ReadonlyMap<string, number>,
  frozen: ReadonlySet<string>,
  n: number,
): { layer: string; to: number } | undefined {
  let best: { layer: string; to: number; score: number } | undefined;
  for (const l of s.layers) {
    const k = level.get(l.layer)!;
    if (frozen.has(l.layer) || k + 1 >= n) continue;
    const [from, to] = [l.trials[k], l.trials[k + 1]];
    if (!from || !to) continue; // a scan cut short by its deadline
    const saved = from.sizeBytes !== to.sizeBytes ? from.sizeBytes - to.sizeBytes : from.gzipBytes - to.gzipBytes;
    if (saved <= 0) continue;
    // A move the scan says costs nothing still costs something: 0.01 pt keeps scores finite and ordered by bytes.
    const score = saved / (Math.max(0, to.drop - from.drop) + 1e-4);
    if (!best || score > best.score) best = { layer: l.layer, to: k + 1, score };
  }
  return best && { layer: best.layer, to: best.to };
}

/**
 * The searched recipe as YAML: the recipe as loaded (after extends, --set and matrix), with the searched
 * option at its first candidate and the chosen settings as explicit override blocks. Paths are made relative
 * to `dir`, where the file is written, so the folder can be moved with its recipe.
 */
export function searchedRecipeYaml(original: Recipe, result: SearchResult, dir: string): string {
  const doc: Record<string, unknown> = structuredClone(original.document);
  delete doc.matrix;
  delete doc.gate;
  const rel = (p: unknown) => (typeof p === 'string' && isAbsolute(p) ? relative(dir, p) || '.' : p);
  const model = doc.model as Record<string, unknown>;
  if (typeof model.path === 'string') model.path = rel(model.path);
  doc.output = rel(original.output);
  const blocks = result.recipe.overrides
    .slice(original.overrides.length)
    .map((b) => ({ layers: b.layers, ...(b.pass === undefined ? {} : { pass: b.pass }), ...b.passes }));
  if (blocks.length) doc.overrides = [...((doc.overrides as unknown[] | undefined) ?? []), ...blocks];
  const header = [
    `# Written by mcbuild's search from ${relative(dir, original.file)}${original.variant ? ` (variant ${original.variant.name})` : ''}.`,
    `# ${result.pass.name} ${result.option} per layer, chosen from [${result.candidates.join(', ')}] to keep the thresholds:`,
    ...Object.entries(result.chosen ?? {}).map(([layer, v]) => `#   ${layer}: ${String(v)}`),
    `#   every other layer: ${String(result.candidates[0])}`,
    '# Rebuild it without searching: mcbuild <this file>',
  ];
  return `${header.join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}

/** Where the searched recipe is written: beside the recipe, `x.searched.yaml` (`x.<variant>.searched.yaml`). */
export function searchedRecipePath(recipe: Recipe): string {
  return `${searchBase(recipe)}.searched.yaml`;
}

/** Where the search's record is written beside the searched recipe: `x.search.json` (`x.<variant>.search.json`). */
export function searchRecordPath(recipe: Recipe): string {
  return `${searchBase(recipe)}.search.json`;
}

function searchBase(recipe: Recipe): string {
  const base = recipe.file.replace(/\.ya?ml$/i, '');
  return `${base}${recipe.variant ? `.${variantFolder(recipe.variant)}` : ''}`;
}

/**
 * What report.json says about the search: the scan, every trial, the choice (null when no plan passed, with
 * the fallback built instead, if any) and why it stopped. `searchedFile`/`recordFile`: where the searched
 * recipe and the search record were written, null when they were not (no plan passed).
 */
export function searchSummary(
  result: SearchResult,
  searchedFile: string | null,
  recordFile: string | null = null,
): Record<string, unknown> {
  return {
    pass: result.pass,
    option: result.option,
    candidates: result.candidates,
    chosen: result.chosen ?? null,
    ...(result.fallback
      ? {
          fallback: result.fallback.reason,
          fallbackTrial: result.fallback.trial,
          fallbackSettings: result.fallback.settings,
        }
      : {}),
    stoppedBecause: result.stoppedBecause,
    recipe: searchedFile,
    record: recordFile,
    sensitivity: {
      reference: result.sensitivity.reference,
      ...(result.sensitivity.stopped ? { stopped: result.sensitivity.stopped } : {}),
      layers: result.sensitivity.layers.map((l) => ({
        layer: l.layer,
        params: l.params,
        drops: Object.fromEntries(l.trials.map((t) => [String(t.value), t.drop])),
      })),
    },
    trials: result.trials,
  };
}

/**
 * The search record written beside the searched recipe (`x.search.json`): the summary report.json carries,
 * with the full scan (accuracies and sizes per layer and candidate), so it outlives rebuilds of the output.
 */
export function searchRecord(
  recipe: Recipe,
  result: SearchResult,
  searchedFile: string,
  recordFile: string,
): Record<string, unknown> {
  const { ran: _ran, ...sensitivity } = result.sensitivity;
  return {
    generator: 'mcbuild',
    recipe: recipe.name,
    ...(recipe.variant ? { variant: recipe.variant.name } : {}),
    ...searchSummary(result, searchedFile, recordFile),
    sensitivity,
  };
}
