/**
 * The sensitivity scan: for one pass, per layer and per candidate setting, the accuracy when only that layer
 * goes through the pass at that setting (every other layer skips it, and the passes after it are left out).
 * Drops are measured against the reference: the same recipe with the pass skipped for every layer, so an
 * earlier pass's own loss is not counted against this one. Layers the recipe's own overrides skip or give
 * the scanned option are left out: that choice is the user's, and the search never changes it. Each trial is an ordinary cached build, so the
 * scan is cached per layer and setting.
 */
import type { BuildOptions } from '../build.js';
import { McbError } from '../errors.js';
import { getPass } from '../passes/index.js';
import { compilePattern, resolveLayer, rulesFor, withOption, type ModelLayer } from '../plan/layers.js';
import { formatDataPath, formatPosition, suggest, type Recipe } from '../recipe/index.js';
import { kernelLayers, runTrial, type SettingValue } from './trials.js';

/** What to scan when the recipe does not say (`bits: auto, candidates: …` says it for a searched pass). */
export const DEFAULT_SCANS: Readonly<Record<string, { option: string; candidates: SettingValue[] }>> = {
  quantize: { option: 'bits', candidates: [8, 4, 2] },
  prune: { option: 'sparsity', candidates: [0.5, 0.75, 0.9] },
  cluster: { option: 'clusters', candidates: [64, 16, 4] },
  'prune-channels': { option: 'sparsity', candidates: [0.25, 0.5, 0.75] },
  lowrank: { option: 'ratio', candidates: [0.5, 0.25, 0.125] },
};

export interface SensitivityOptions extends BuildOptions {
  /** A pass name (its first entry) or its index in `passes`, from 0. Default: the searched pass, else the first that takes per-layer options. */
  pass?: string;
  option?: string;
  candidates?: SettingValue[];
  /** Only layers matching these patterns (names, globs, re:). */
  only?: string[];
  /** Called before each trial: done so far, total, what is tried next. */
  onTrial?: (done: number, total: number, label: string) => void;
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
  /** Steps computed (not cache hits) over all trials. */
  ran: number;
}

/** Which pass entry, option and candidates a scan of `recipe` uses, checked against the pass. */
export function scanTarget(recipe: Recipe, opts: Pick<SensitivityOptions, 'pass' | 'option' | 'candidates'>): { index: number; name: string; option: string; candidates: SettingValue[] } {
  const names = recipe.passes.map((p) => p.name);
  let index: number;
  if (opts.pass === undefined) {
    index = recipe.passes.findIndex((p) => p.search);
    if (index < 0) index = recipe.passes.findIndex((p) => getPass(p.name)?.perLayer && DEFAULT_SCANS[p.name]);
    if (index < 0) throw new McbError('MCB_USAGE', `${recipe.name} has no pass that takes per-layer settings (passes: ${names.join(', ') || 'none'}); add one such as quantize or prune, or name it with --pass.`);
  } else if (/^\d+$/.test(opts.pass)) {
    index = Number(opts.pass);
    if (index >= names.length) throw new McbError('MCB_USAGE', `--pass ${opts.pass}: the recipe has ${names.length} passes (indices from 0: ${names.map((n, i) => `${i} ${n}`).join(', ')}).`);
  } else {
    index = names.indexOf(opts.pass);
    if (index < 0) throw new McbError('MCB_USAGE', `--pass ${opts.pass} is not a pass of ${recipe.name}${suggest(opts.pass, names)}; its passes are: ${names.join(', ') || 'none'}.`);
  }
  const entry = recipe.passes[index]!;
  const pass = getPass(entry.name)!;
  const fallback = entry.search ?? DEFAULT_SCANS[entry.name];
  const option = opts.option ?? fallback?.option;
  const candidates = opts.candidates ?? (option === fallback?.option ? fallback?.candidates : undefined);
  if (!pass.perLayer) throw new McbError('MCB_USAGE', `the ${entry.name} pass acts on the whole model and takes no per-layer settings, so it has no per-layer sensitivity; choose another --pass.`);
  if (option === undefined || candidates === undefined) throw new McbError('MCB_USAGE', `say what to scan for the ${entry.name} pass: --option (one of ${pass.perLayer.join(', ') || 'none'}) and --candidates (e.g. --candidates 8,4,2).`);
  if (!pass.perLayer.includes(option)) throw new McbError('MCB_USAGE', `--option ${option}: the ${entry.name} pass takes ${pass.perLayer.join(', ') || 'no option'} per layer${suggest(option, pass.perLayer)}.`);
  if (candidates.length === 0) throw new McbError('MCB_USAGE', '--candidates needs at least one value, e.g. --candidates 8,4,2.');
  // Each candidate must be a valid setting for this pass: refuse it now, not after the first trials ran.
  for (const value of candidates) {
    const path = ['passes', index, entry.name];
    pass.resolveOptions(withOption(entry.rawOptions, option, value, pass.exclusiveOptions), { path, at: (o) => `${formatPosition(recipe.source.positionOf(o === undefined ? path : [...path, o]))} (with ${option}: ${JSON.stringify(value)} from the scan's candidates, \`${formatDataPath(path)}\`)` });
  }
  return { index, name: entry.name, option, candidates };
}

export async function scanSensitivity(recipe: Recipe, opts: SensitivityOptions = {}): Promise<Sensitivity> {
  const target = scanTarget(recipe, opts);
  const base = { passIndex: target.index, option: target.option, truncate: true };
  opts.onTrial?.(0, 1, `reference: ${target.name} skipped for every layer`);
  const reference = await runTrial(recipe, { ...base, values: new Map(), skipOthers: true }, opts);
  let ran = reference.ran;
  const filters = (opts.only ?? []).map((p) => compilePattern(p, () => '--layers'));
  // A layer the recipe's own overrides skip, or give this option, is the user's decision: not scanned, not searched.
  const entry = recipe.passes[target.index]!;
  const rules = rulesFor(recipe.overrides, target.name, target.index);
  // The option or an alternative to it (a block's dtype fixes what bits would choose).
  const alternatives = [target.option, ...(getPass(target.name)!.exclusiveOptions ?? []).filter((g) => g.includes(target.option)).flat()];
  const fixed = (l: ModelLayer) => {
    const r = resolveLayer(['passes', target.index, target.name], entry.rawOptions, rules, l);
    return r.skip || alternatives.some((o) => r.setBy[o]?.[0] === 'overrides');
  };
  const layers = kernelLayers(reference.finalModel).filter((l) => (filters.length === 0 || filters.some((f) => f(l.name))) && !fixed(l));
  if (layers.length === 0) {
    throw new McbError('MCB_USAGE', `no layer with a kernel${opts.only ? ` matches --layers ${opts.only.join(',')}` : ''} reaches the ${target.name} pass of ${recipe.name} without an override fixing its ${target.option} or skipping it; nothing to scan.`);
  }
  const total = layers.length * target.candidates.length;
  const out: LayerSensitivity[] = [];
  let done = 0;
  for (const l of layers) {
    const trials: LayerSensitivity['trials'] = [];
    for (const value of target.candidates) {
      opts.onTrial?.(done++, total, `${l.name} ${target.option}=${String(value)}`);
      const t = await runTrial(recipe, { ...base, values: new Map([[l.name, value]]), skipOthers: true }, opts);
      ran += t.ran;
      trials.push({ value, accuracy: t.accuracy, drop: reference.accuracy - t.accuracy, sizeBytes: t.sizeBytes, gzipBytes: t.gzipBytes });
    }
    out.push({ layer: l.name, ...(l.className ? { className: l.className } : {}), params: l.params, trials });
  }
  return {
    recipe: recipe.name,
    pass: { index: target.index, name: target.name },
    option: target.option,
    candidates: target.candidates,
    baseline: { accuracy: reference.baseline.accuracy, sizeBytes: reference.baseline.sizeBytes },
    reference: { accuracy: reference.accuracy, sizeBytes: reference.sizeBytes, gzipBytes: reference.gzipBytes },
    layers: out,
    ran,
  };
}

/** The scan as a table: one row per layer, one column per candidate (accuracy drop in points, and size). */
export function renderSensitivity(s: Sensitivity): string {
  const pp = (x: number) => `${x > 0 ? '-' : x < 0 ? '+' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;
  const head = ['layer', 'class', 'params', ...s.candidates.map((c) => `${s.option}=${String(c)}`)];
  const rows = s.layers.map((l) => [l.layer, l.className ?? '', l.params.toLocaleString('en-US'), ...l.trials.map((t) => pp(t.drop))]);
  const widths = head.map((_, c) => Math.max(head[c]!.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
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
