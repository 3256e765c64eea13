/**
 * The sensitivity scan: for one pass, per layer and per candidate setting, the accuracy when only that layer
 * goes through the pass at that setting (every other layer skips it, and the passes after it are left out).
 * Drops are measured against the reference: the same recipe with the pass skipped for every layer, so an
 * earlier pass's own loss is not counted against this one. Layers the recipe's own overrides skip or give
 * the scanned option are left out: that choice is the user's, and the search never changes it. Each trial is an ordinary cached build, so the
 * scan is cached per layer and setting.
 */
import type { BuildOptions } from '../pipeline/index.js';
import { cancelled, McbError } from '../errors.js';
import { getPass } from '../passes/index.js';
import type { ModelLayer } from '../model/index.js';
import { compilePattern, resolveLayer, rulesFor, withOption } from '../plan/layers.js';
import {
  formatDataPath,
  formatPosition,
  suggest,
  type DataPath,
  type Recipe,
  type RecipeSource,
} from '../recipe/index.js';
import { validateRecipeData } from '../recipe/validate.js';
import { recipeLanguage } from '../language/index.js';
import { kernelLayers, runTrial, type SettingValue } from './trials.js';
import { inOrder } from '../util/in-order.js';
import { recipePool } from '../execute/index.js';
import { withThousands } from '../util/text.js';

export interface SensitivityOptions extends BuildOptions {
  /** A pass name (its first entry) or its index in `passes`, from 0. Default: the searched pass, else the first that takes per-layer options. */
  pass?: string;
  option?: string;
  candidates?: SettingValue[];
  /** Only layers matching these patterns (names, globs, re:). */
  only?: string[];
  /** Called before each trial: done so far, total, what is tried next. */
  onTrial?: (done: number, total: number, label: string) => void;
  /**
   * A `performance.now()` time after which no further trial starts (the search's `maxSeconds`, which the scan
   * counts against). The reference always runs; the scan then returns what it measured, with `stopped` set.
   */
  deadline?: number;
}

export interface LayerSensitivity {
  layer: string;
  className?: string;
  params: number;
  trials: { value: SettingValue; accuracy: number; drop: number; sizeBytes: number; gzipBytes: number }[];
}

export interface Sensitivity {
  recipe: string;
  pass: { index: number; name: string };
  option: string;
  candidates: SettingValue[];
  baseline: { accuracy: number; sizeBytes: number };
  /** The recipe up to this pass with the pass skipped for every layer: what drops are measured against. */
  reference: { accuracy: number; sizeBytes: number; gzipBytes: number };
  layers: LayerSensitivity[];
  /** Set when the scan stopped at its deadline: `layers` holds what was measured (the last layer may lack candidates). */
  stopped?: 'deadline';
  /** Steps computed (not cache hits) over all trials. */
  ran: number;
}

/** Which pass entry, option and candidates a scan of `recipe` uses, checked against the pass and the recipe schema. */
export function scanTarget(
  recipe: Recipe,
  opts: Pick<SensitivityOptions, 'pass' | 'option' | 'candidates'>,
): { index: number; name: string; option: string; candidates: SettingValue[] } {
  const names = recipe.passes.map((p) => p.name);
  let index: number;
  if (opts.pass === undefined) {
    index = recipe.passes.findIndex((p) => p.search);
    if (index < 0)
      index = recipe.passes.findIndex(
        (p) => getPass(p.name)?.meta.perLayer?.length && getPass(p.name)?.meta.sensitivity,
      );
    if (index < 0)
      throw new McbError(
        'MCB_USAGE',
        `${recipe.name} has no pass that takes per-layer settings (passes: ${names.join(', ') || 'none'}); add one such as quantize or prune, or name it with --pass.`,
      );
  } else if (/^\d+$/.test(opts.pass)) {
    index = Number(opts.pass);
    if (index >= names.length)
      throw new McbError(
        'MCB_USAGE',
        `--pass ${opts.pass}: the recipe has ${names.length} passes (indices from 0: ${names.map((n, i) => `${i} ${n}`).join(', ')}).`,
      );
  } else {
    index = names.indexOf(opts.pass);
    if (index < 0)
      throw new McbError(
        'MCB_USAGE',
        `--pass ${opts.pass} is not a pass of ${recipe.name}${suggest(opts.pass, names)}; its passes are: ${names.join(', ') || 'none'}.`,
      );
  }
  const entry = recipe.passes[index]!;
  const pass = getPass(entry.name)!;
  if (!pass.meta.perLayer)
    throw new McbError(
      'MCB_USAGE',
      `the ${entry.name} pass acts on the whole model and takes no per-layer settings, so it has no per-layer sensitivity; choose another --pass.`,
    );
  if (pass.meta.perLayer.length === 0) {
    throw new McbError(
      'MCB_USAGE',
      `the ${entry.name} pass (passes[${index}]) takes only \`skip\` per layer, no option to vary, so there is nothing to scan; choose another --pass (one that takes per-layer options, such as quantize or prune).`,
    );
  }
  // What to scan when not told: the searched option and its candidates, else the pass's own default scan.
  const fallback = entry.search ?? pass.meta.sensitivity;
  const option = opts.option ?? fallback?.option;
  // The option first: a misspelt --option is the mistake to report, not the missing --candidates.
  if (option !== undefined && !pass.meta.perLayer.includes(option))
    throw new McbError(
      'MCB_USAGE',
      `--option ${option}: the ${entry.name} pass takes ${pass.meta.perLayer.join(', ')} per layer${suggest(option, pass.meta.perLayer)}.`,
    );
  const fromCommandLine = opts.candidates !== undefined;
  const candidates = opts.candidates ?? (fallback && option === fallback.option ? [...fallback.candidates] : undefined);
  if (option === undefined)
    throw new McbError(
      'MCB_USAGE',
      `say what to scan for the ${entry.name} pass: --option (one of ${pass.meta.perLayer.join(', ')}) and --candidates (e.g. --candidates 8,4,2).`,
    );
  if (candidates === undefined)
    throw new McbError(
      'MCB_USAGE',
      `say which values of ${option} to scan for the ${entry.name} pass: --candidates A,B,C (the values of ${option}, most conservative first).`,
    );
  if (candidates.length === 0)
    throw new McbError('MCB_USAGE', '--candidates needs at least one value, e.g. --candidates 8,4,2.');
  const origin = fromCommandLine
    ? `the command line (--candidates ${candidates.map(String).join(',')})`
    : entry.search
      ? undefined
      : `mcbuild's default candidates for ${entry.name} ${option} (${candidates.map(String).join(', ')})`;
  // Each candidate must be a valid setting for this pass: refuse it now, not after the first trials ran.
  for (const [j, value] of candidates.entries()) {
    checkCandidate(
      recipe,
      index,
      entry.name,
      option,
      value,
      candidateSource(recipe.source, index, entry.name, option, j, origin),
    );
    const path = ['passes', index, entry.name];
    pass.resolveOptions(withOption(entry.rawOptions, option, value, pass.meta.exclusiveOptions), {
      path,
      at: (o) =>
        `${formatPosition(recipe.source.positionOf(o === undefined ? path : [...path, o]))} (with ${option}: ${JSON.stringify(value)} from the scan's candidates, \`${formatDataPath(path)}\`)`,
    });
  }
  return { index, name: entry.name, option, candidates };
}

/**
 * Positions for a candidate checked in place of the pass's option: the option's own path (and below) is
 * where the candidate came from — the command line, the recipe's `candidates:` list, or mcbuild's defaults —
 * and every other path is where the recipe wrote it.
 */
function candidateSource(
  source: RecipeSource,
  index: number,
  name: string,
  option: string,
  j: number,
  origin: string | undefined,
): RecipeSource {
  const at = (path: DataPath) =>
    path.length >= 4 && path[0] === 'passes' && path[1] === index && path[2] === name && path[3] === option;
  return {
    file: source.file,
    positionOf: (path, o) => {
      if (!at(path)) return source.positionOf(path, o);
      return origin === undefined
        ? source.positionOf(['passes', index, name, 'candidates', j])
        : { file: source.file, line: 0, col: 0, label: origin };
    },
  };
}

/** The recipe as validated, with the pass's option set to `value` (replacing its alternatives), through the schema. */
function checkCandidate(
  recipe: Recipe,
  index: number,
  name: string,
  option: string,
  value: SettingValue,
  source: RecipeSource,
): void {
  const doc = structuredClone(recipe.document) as { passes?: Record<string, unknown>[] };
  const entry = doc.passes?.[index];
  if (!entry || !(name in entry)) return;
  const options = entry[name];
  const raw =
    typeof options === 'object' && options !== null && !Array.isArray(options)
      ? (options as Record<string, unknown>)
      : {};
  entry[name] = withOption(raw, option, value, getPass(name)?.meta.exclusiveOptions);
  validateRecipeData(doc, source, recipeLanguage().schema);
}

export async function scanSensitivity(recipe: Recipe, opts: SensitivityOptions = {}): Promise<Sensitivity> {
  const target = scanTarget(recipe, opts);
  if (opts.pool || opts.workers) return scan(recipe, target, opts);
  // The trials run side by side in child processes when this machine has the cores (src/execute/pool.ts).
  const pool = recipePool(recipe, opts);
  try {
    return await scan(recipe, target, pool ? { ...opts, pool } : opts);
  } finally {
    pool?.close();
  }
}

async function scan(
  recipe: Recipe,
  target: ReturnType<typeof scanTarget>,
  opts: SensitivityOptions,
): Promise<Sensitivity> {
  const base = { passIndex: target.index, option: target.option, truncate: true };
  if (opts.signal?.aborted) throw cancelled();
  opts.onTrial?.(0, 1, `reference: ${target.name} skipped for every layer`);
  const reference = await runTrial(recipe, { ...base, values: new Map(), skipOthers: true }, opts);
  let ran = reference.ran;
  const filters = (opts.only ?? []).map((p) => compilePattern(p, () => '--layers'));
  // A layer the recipe's own overrides skip, or give this option, is the user's decision: not scanned, not searched.
  const entry = recipe.passes[target.index]!;
  const rules = rulesFor(recipe.overrides, target.name, target.index);
  // The option or an alternative to it (a block's dtype fixes what bits would choose).
  const alternatives = [
    target.option,
    ...(getPass(target.name)!.meta.exclusiveOptions ?? []).filter((g) => g.includes(target.option)).flat(),
  ];
  const fixed = (l: ModelLayer) => {
    const r = resolveLayer(['passes', target.index, target.name], entry.rawOptions, rules, l);
    return r.skip || alternatives.some((o) => r.setBy[o]?.[0] === 'overrides');
  };
  const layers = kernelLayers(reference.finalModel).filter(
    (l) => (filters.length === 0 || filters.some((f) => f(l.name))) && !fixed(l),
  );
  if (layers.length === 0) {
    throw new McbError(
      'MCB_USAGE',
      `no layer with a kernel${opts.only ? ` matches --layers ${opts.only.join(',')}` : ''} reaches the ${target.name} pass of ${recipe.name} without an override fixing its ${target.option} or skipping it; nothing to scan.`,
    );
  }
  const total = layers.length * target.candidates.length;
  const tasks = layers.flatMap((l) => target.candidates.map((value) => ({ l, value })));
  let stopped = false;
  // Trials are independent builds: with a pool they run side by side, a few more in flight than cores so
  // the pool always has the next step to start. Results are read by index, whatever order they finish in.
  const outcomes = await inOrder(
    tasks,
    opts.pool ? opts.pool.cores * 2 : 1,
    ({ l, value }, i) => {
      opts.onTrial?.(i, total, `${l.name} ${target.option}=${String(value)}`);
      return runTrial(recipe, { ...base, values: new Map([[l.name, value]]), skipOthers: true }, opts);
    },
    () => {
      if (opts.signal?.aborted) throw cancelled();
      if (opts.deadline !== undefined && performance.now() >= opts.deadline) stopped = true;
      return !stopped;
    },
  );
  const out: LayerSensitivity[] = [];
  for (const [j, l] of layers.entries()) {
    const trials: LayerSensitivity['trials'] = [];
    for (const [k, value] of target.candidates.entries()) {
      const t = outcomes[j * target.candidates.length + k];
      if (!t) break;
      ran += t.ran;
      trials.push({
        value,
        accuracy: t.accuracy,
        drop: reference.accuracy - t.accuracy,
        sizeBytes: t.sizeBytes,
        gzipBytes: t.gzipBytes,
      });
    }
    // The deadline may cut the last layer's candidates short; a layer with none measured is left out.
    if (trials.length)
      out.push({ layer: l.name, ...(l.className ? { className: l.className } : {}), params: l.params, trials });
    if (trials.length < target.candidates.length) break;
  }
  return {
    recipe: recipe.name,
    pass: { index: target.index, name: target.name },
    option: target.option,
    candidates: target.candidates,
    baseline: { accuracy: reference.baseline.accuracy ?? Number.NaN, sizeBytes: reference.baseline.sizeBytes },
    reference: { accuracy: reference.accuracy, sizeBytes: reference.sizeBytes, gzipBytes: reference.gzipBytes },
    layers: out,
    ...(stopped ? { stopped: 'deadline' as const } : {}),
    ran,
  };
}

/** The scan as a table: one row per layer, one column per candidate (accuracy drop in points, and size). */
export function renderSensitivity(s: Sensitivity): string {
  const pp = (x: number) => `${x > 0 ? '-' : x < 0 ? '+' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;
  const head = ['layer', 'class', 'params', ...s.candidates.map((c) => `${s.option}=${String(c)}`)];
  const rows = s.layers.map((l) => [
    l.layer,
    l.className ?? '',
    withThousands(l.params),
    ...l.trials.map((t) => pp(t.drop)),
  ]);
  const widths = head.map((_, c) => Math.max(head[c]!.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [
    `sensitivity of ${s.recipe} to ${s.pass.name} (passes[${s.pass.index}]) ${s.option}, one layer at a time`,
    `reference (${s.pass.name} skipped for every layer): accuracy ${(s.reference.accuracy * 100).toFixed(2)}%; baseline ${(s.baseline.accuracy * 100).toFixed(2)}%`,
    '',
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    'cells: accuracy change against the reference when only that layer is compressed at that setting (- is a loss)',
  ].join('\n');
}
