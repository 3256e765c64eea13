/**
 * Per-layer overrides. An override block names layers (exact names, globs, `re:` regexes) and/or layer
 * classes, and gives some passes their options for those layers, or `skip`. This module is the one place
 * where a block is matched to a layer and where precedence is decided; the planner uses it to validate and
 * to show the per-layer plan (`mcbuild explain`), the executor hands each pass the same resolver for the
 * layers of the model it actually receives, and the report records what was applied. Engine-free and pure.
 *
 * Precedence, option by option: the pass entry's own options, then every matching block in the order
 * written (after `extends`, the base file's blocks come first). A block that says `skip` excludes the layer
 * from that pass; a later matching block with options includes it again with those options. A block with
 * both `layers` and `classes` matches a layer that satisfies both. Options a pass declares exclusive (one of
 * lowrank's rank / ratio / energy) replace each other: a block's `rank` drops the entry's `ratio`.
 */
import { McbError } from '../errors.js';
import { opMatches, type ModelLayer } from '../model/index.js';
import type { LayerOptions, OptionsPlace, PassDefinition, PassInput } from '../passes/index.js';
import { canonicalJson } from '../util/hash.js';
import { editDistance, formatDataPath, type DataPath, type OverrideBlock } from '../recipe/index.js';

/** One block's settings for one pass, as hashed into that pass's step key (order matters). */
export interface LayerRule {
  /** Index of the block in `overrides`; not hashed (it only says where the rule was written). */
  block: number;
  layers?: string[];
  classes?: string[];
  /** Graph-model ops; a fused op counts as its base op too (opMatches). */
  ops?: string[];
  set: Record<string, unknown> | 'skip';
}

export interface ResolvedLayer {
  layer: string;
  className?: string;
  skip: boolean;
  /** The pass entry's options merged with every matching block's (raw, before the pass fills defaults). */
  raw: Record<string, unknown>;
  /** Where each option's value (and `skip`) was written: `passes[1].quantize` or `overrides[0].quantize`. */
  setBy: Record<string, DataPath>;
}

/**
 * A layer-name pattern: `re:<regex>` (must match the whole name), a glob with `*` (any run of characters)
 * and `?` (one character), or an exact name. Throws McbError for an invalid regex; `at` names its place.
 */
export function compilePattern(pattern: string, at: () => string): (name: string) => boolean {
  if (pattern.startsWith('re:')) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${pattern.slice(3)})$`, 'u');
    } catch (e) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `layer pattern ${JSON.stringify(pattern)} at ${at()} is not a valid regular expression (${e instanceof Error ? e.message : String(e)}); fix it, or write a glob such as "conv_pw_*".`,
      );
    }
    return (name) => re.test(name);
  }
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const re = new RegExp(`^${body}$`, 'su');
  return (name) => re.test(name);
}

/** The rules for one pass entry, from every block that configures it (and, with `pass:`, that entry), in the order written. */
export function rulesFor(blocks: readonly OverrideBlock[], pass: string, entryIndex?: number): LayerRule[] {
  return blocks.flatMap((b) => {
    const set = b.passes[pass];
    if (set === undefined || (b.pass !== undefined && entryIndex !== undefined && b.pass !== entryIndex)) return [];
    return [
      {
        block: b.index,
        ...(b.layers ? { layers: b.layers } : {}),
        ...(b.classes ? { classes: b.classes } : {}),
        ...(b.ops ? { ops: b.ops } : {}),
        set,
      },
    ];
  });
}

/** The part of the rules that can change a step's output, for its key. */
export function hashedRules(rules: readonly LayerRule[]): unknown[] {
  return rules.map(({ block: _block, ...rest }) => rest);
}

type Matcher = (layer: ModelLayer) => boolean;
const compiled = new WeakMap<LayerRule, Matcher>();

function matcher(rule: LayerRule): Matcher {
  let m = compiled.get(rule);
  if (!m) {
    const where = () => formatDataPath(['overrides', rule.block, 'layers']);
    const names = rule.layers?.map((p) => compilePattern(p, where));
    const classes = rule.classes ? new Set(rule.classes) : undefined;
    const ops = rule.ops;
    m = (layer) =>
      (!names || names.some((f) => f(layer.name))) &&
      (!classes || (layer.className !== undefined && classes.has(layer.className))) &&
      (!ops || (layer.op !== undefined && ops.some((op) => opMatches(layer.op!, op))));
    compiled.set(rule, m);
  }
  return m;
}

/** Whether a rule applies to a layer (each of `layers`, `classes` and `ops` it gives must match). */
export function ruleMatches(rule: LayerRule, layer: ModelLayer): boolean {
  return matcher(rule)(layer);
}

/** The options a pass uses for one layer and where each came from. The only precedence rule in mcbuild. */
export function resolveLayer(
  entryPath: DataPath,
  entryRaw: Record<string, unknown>,
  rules: readonly LayerRule[],
  layer: ModelLayer,
  exclusive: readonly (readonly string[])[] = [],
): ResolvedLayer {
  const raw: Record<string, unknown> = { ...entryRaw };
  const setBy: Record<string, DataPath> = Object.fromEntries(Object.keys(entryRaw).map((k) => [k, entryPath]));
  let skip = false;
  const pass = entryPath[entryPath.length - 1]!;
  for (const rule of rules) {
    if (!ruleMatches(rule, layer)) continue;
    const blockPath: DataPath = ['overrides', rule.block, pass];
    if (rule.set === 'skip') {
      skip = true;
      setBy.skip = blockPath;
      continue;
    }
    if (skip) {
      skip = false;
      setBy.skip = blockPath;
    }
    for (const [k, v] of Object.entries(rule.set)) {
      // Options that say the same thing different ways (quantize's dtype and bits): the block's replaces the others.
      for (const group of exclusive) {
        if (!group.includes(k)) continue;
        for (const other of group) {
          if (other !== k && !(other in rule.set)) {
            delete raw[other];
            delete setBy[other];
          }
        }
      }
      raw[k] = v;
      setBy[k] = blockPath;
    }
  }
  return { layer: layer.name, ...(layer.className ? { className: layer.className } : {}), skip, raw, setBy };
}

/**
 * The error for a block that configures a pass but matches no layer of the model that pass receives (as
 * predicted by the planner, or as it really is when the pass runs): such a block would silently do nothing.
 */
export function unmatchedRuleMessage(
  rule: LayerRule,
  pass: string,
  layers: readonly ModelLayer[],
  blockAt: string,
  when: 'planned' | 'running',
): string {
  const what = [
    rule.layers ? `layers ${JSON.stringify(rule.layers)}` : '',
    rule.classes ? `classes ${JSON.stringify(rule.classes)}` : '',
    rule.ops ? `ops ${JSON.stringify(rule.ops)}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  const given = [rule.layers, rule.classes, rule.ops].filter(Boolean).length;
  return `\`overrides[${rule.block}]\` at ${blockAt} sets the ${pass} pass for ${what}, but no layer of the model ${when === 'running' ? 'that pass received' : 'that pass will receive'} matches ${given > 2 ? 'all of them' : given > 1 ? 'both' : 'it'}; that pass's input has ${describeLayers(layers)}. Fix the block's layers, classes or ops, or remove its ${pass} setting.`;
}

/** "3 layers: fc_1 (Dense), fc_2 (Dense), predictions (Dense)" (a graph's: "pw/Conv2D (Conv2D)"), shortened for large models. */
export function describeLayers(layers: readonly ModelLayer[]): string {
  const shown = layers.slice(0, 12).map((l) => {
    const kind = l.op ?? l.className;
    return kind ? `${l.name} (${kind})` : l.name;
  });
  return `${layers.length} layer${layers.length === 1 ? '' : 's'}${shown.length ? `: ${shown.join(', ')}${layers.length > shown.length ? ', …' : ''}` : ''}`;
}

/** `raw` with one option set, dropping the alternatives it replaces (as a block setting it would). */
export function withOption(
  raw: Record<string, unknown>,
  option: string,
  value: unknown,
  exclusive: readonly (readonly string[])[] = [],
): Record<string, unknown> {
  const out = { ...raw };
  for (const group of exclusive) if (group.includes(option)) for (const other of group) delete out[other];
  out[option] = value;
  return out;
}

/** Patterns, classes and ops of a block that match no layer in `layers`, each with up to three close names. */
export function unmatchedPatterns(
  block: OverrideBlock,
  layers: readonly ModelLayer[],
): { path: DataPath; pattern: string; closest: string[] }[] {
  const out: { path: DataPath; pattern: string; closest: string[] }[] = [];
  (block.layers ?? []).forEach((pattern, i) => {
    const path: DataPath = ['overrides', block.index, 'layers', i];
    const f = compilePattern(pattern, () => formatDataPath(path));
    if (!layers.some((l) => f(l.name)))
      out.push({
        path,
        pattern,
        closest: closest(
          pattern,
          layers.map((l) => l.name),
        ),
      });
  });
  (block.classes ?? []).forEach((cls, i) => {
    if (!layers.some((l) => l.className === cls)) {
      const path: DataPath = ['overrides', block.index, 'classes', i];
      out.push({
        path,
        pattern: cls,
        closest: closest(cls, [...new Set(layers.flatMap((l) => (l.className ? [l.className] : [])))]),
      });
    }
  });
  (block.ops ?? []).forEach((op, i) => {
    if (!layers.some((l) => l.op !== undefined && opMatches(l.op, op))) {
      const path: DataPath = ['overrides', block.index, 'ops', i];
      out.push({ path, pattern: op, closest: closest(op, [...new Set(layers.flatMap((l) => (l.op ? [l.op] : [])))]) });
    }
  });
  return out;
}

/** The names nearest to `word` by edit distance (regex and glob characters stripped first). */
export function closest(word: string, names: readonly string[], n = 3): string[] {
  const plain = word
    .replace(/^re:/, '')
    .replace(/[*?^$.+()[\]{}|\\]/g, '')
    .toLowerCase();
  return [...new Set(names)]
    .map((name) => ({ name, d: editDistance(plain, name.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, n)
    .map((x) => x.name);
}

export interface LayerResolver<O> {
  /** The options the pass uses for a layer, or null when an override skips it. Bad merged options throw. */
  optionsFor: LayerOptions<O>;
  /** Every layer asked for so far that an override block touched: what explain and the report show. */
  overridden(): ResolvedLayer[];
}

/**
 * The per-layer options of one pass entry, for the layers of the model it receives. A layer no rule matches
 * gets `options` (the entry's resolved options) itself; a merged set of options goes through the pass's own
 * resolveOptions, with errors pointing at the block that wrote the offending option.
 */
export function layerResolver<O extends object>(
  pass: PassDefinition<O>,
  entry: { path: DataPath; raw: Record<string, unknown> },
  options: O,
  rules: readonly LayerRule[],
  layers: readonly ModelLayer[],
  placeAt: (path: DataPath) => string,
  input?: PassInput,
): LayerResolver<O> {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const byRaw = new Map<string, O>();
  const touched = new Map<string, ResolvedLayer>();
  const optionsFor = (name: string): O | null => {
    if (rules.length === 0) return options;
    const layer = byName.get(name) ?? { name };
    const r = resolveLayer(entry.path, entry.raw, rules, layer, pass.meta.exclusiveOptions);
    if (Object.values(r.setBy).every((p) => p === entry.path)) return options;
    touched.set(name, r);
    if (r.skip) return null;
    const key = canonicalJson(r.raw);
    let resolved = byRaw.get(key);
    if (!resolved) {
      // Messages name the block that set this layer's options (the last one), where the bad value most likely is.
      const blockPath = Object.values(r.setBy)
        .filter((p) => p !== entry.path && p[0] === 'overrides')
        .at(-1);
      const place: OptionsPlace = {
        path: blockPath ?? entry.path,
        at: (option) => placeAt(option === undefined ? entry.path : [...(r.setBy[option] ?? entry.path), option]),
      };
      resolved = pass.resolveOptions(r.raw, place, input);
      byRaw.set(key, resolved);
    }
    return resolved;
  };
  return { optionsFor, overridden: () => [...touched.values()] };
}
