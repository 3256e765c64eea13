import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { LineCounter, parse as parseYaml, parseDocument } from 'yaml';
import { errnoCode, McbError } from '../errors.js';
import { checkInsideProject, findProjectRoot } from './paths.js';
import {
  CommandLineSource,
  formatDataPath,
  formatPosition,
  MergedSource,
  ownerOf,
  SourceMap,
  type Owner,
  type RecipeSource,
} from './source.js';
import type {
  CountThreshold,
  DataSpec,
  OverrideBlock,
  PassEntry,
  Recipe,
  SearchSpec,
  Thresholds,
  TrainSpec,
  Variant,
} from './types.js';
import { extractSearch } from './search-spec.js';
import { suggest, validateRecipeData } from './validate.js';
import { parseByteSize } from '../util/bytes.js';
import { LATENCY_BATCHES } from '../metrics/latency.js';

/** Recipes are hand-written text; anything this large is a mistake (or an attack), not a recipe. */
const MAX_RECIPE_BYTES = 1024 * 1024;
/** Anchors and aliases are handy for repeating a block; thousands of them are a "billion laughs" bomb. */
const MAX_ALIASES = 100;
/**
 * A recipe is a handful of levels deep (passes[0].quantize.bits is 4); a document nested far deeper is
 * generated or hostile, and every later walk (merge, validation, canonical keys) recurses on it.
 */
export const MAX_RECIPE_DEPTH = 32;
/** The longest text a recipe value needs is a path or a description; a 64 kB string is a mistake. */
export const MAX_RECIPE_STRING = 64 * 1024;

export interface LoadOptions {
  /** `--set path=value` assignments (`passes[2].quantize.bits=4`), applied in order after `extends`. */
  set?: readonly string[];
  /** For a recipe with a `matrix`: load only the variant of this name ("bits=8,sparsity=0.5"). */
  variant?: string;
  /** Let `output` name a folder outside the project root (`--allow-outside`); refused by default. */
  allowOutside?: boolean;
}

/** A recipe file as loaded: one recipe per `matrix` combination (exactly one without a matrix). */
export interface RecipeSet {
  file: string;
  variants: Recipe[];
  /** The matrix as written (keys in order), when there is one. */
  matrix?: Record<string, unknown[]>;
  /** `all`: the build passes when every variant passes; `best`: when at least one does. */
  gate: 'all' | 'best';
}

/** Bases may extend bases; a chain this deep is a mistake. */
const MAX_EXTENDS_DEPTH = 8;
/** A sweep this large belongs on a cluster (issue 10), not in one recipe run. */
const MAX_VARIANTS = 256;
/** Thresholds on counts of the result model, all with `max` and `minRatio`. */
const COUNT_METRICS = ['params', 'nonZeroParams', 'macs', 'flops'] as const;

/** Keys that would reach an object's prototype rather than a recipe value. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const PLACEHOLDER = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

/** Reads, parses, validates and normalises a recipe. Every failure is an McbError with file:line:col. */
export async function loadRecipe(file: string, opts: LoadOptions = {}): Promise<Recipe> {
  const set = await loadRecipeSet(file, opts);
  if (set.variants.length !== 1) {
    throw new McbError(
      'MCB_USAGE',
      `${file} has a matrix of ${set.variants.length} variants; this command takes one: add --variant with one of ${set.variants.map((v) => JSON.stringify(v.variant!.name)).join(', ')}.`,
    );
  }
  return set.variants[0]!;
}

/**
 * Reads a recipe and the files it `extends`, applies `--set`, and expands its `matrix` into one validated
 * recipe per combination. Errors point at the file (or command-line argument) where the bad value was written.
 */
export async function loadRecipeSet(file: string, opts: LoadOptions = {}): Promise<RecipeSet> {
  const path = resolve(file);
  const merged = await readMerged(path, file, []);
  for (const assignment of opts.set ?? []) applySet(merged, path, assignment);
  if (opts.set?.length) await dropReplacedAlternatives(merged.data, opts.set);
  const source = new MergedSource(path, merged.owner);
  // --set values are YAML too: the same limits as a file's.
  if (opts.set?.length) checkLimits(merged.data, source);
  const data = merged.data;
  if (data === null || data === undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${path}: the recipe is empty. Start from recipes/mnist-mlp.yaml, or run \`mcbuild --help\`.`,
    );
  }
  const top = isPlainObject(data) ? data : undefined;
  const gate = top?.gate === 'best' ? 'best' : 'all';
  const matrix = top ? readMatrix(top.matrix, source) : undefined;
  if (!matrix) {
    const placeholder = findPlaceholder(data, []);
    if (placeholder) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${formatPosition(source.positionOf(placeholder))} uses \`\${{ matrix.… }}\`, but the recipe has no \`matrix\`; add one (e.g. \`matrix: { bits: [8, 4] }\`) or write the value.`,
      );
    }
    if (top?.gate !== undefined)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`gate\` at ${formatPosition(source.positionOf(['gate']))} decides how a matrix's variants pass together, but the recipe has no \`matrix\`; remove it.`,
      );
    if (opts.variant !== undefined)
      throw new McbError(
        'MCB_USAGE',
        `--variant ${opts.variant}: ${file} has no \`matrix\`, so it has no variants; leave --variant out.`,
      );
    const search = extractSearch(data, source);
    checkModelKeys(data, source);
    validateRecipeData(data, source);
    checkCandidates(data, search, source);
    return {
      file: path,
      variants: [normalise(data as RawRecipe, source, merged.files, search, undefined, opts.allowOutside)],
      gate,
    };
  }
  checkMatrixUse(data, matrix, source);
  let combos = cartesian(matrix);
  if (combos.length > MAX_VARIANTS) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `the matrix at ${formatPosition(source.positionOf(['matrix']))} makes ${combos.length} variants; at most ${MAX_VARIANTS} are allowed. Split the sweep into several recipes.`,
    );
  }
  if (opts.variant !== undefined) combos = [pickVariant(combos, opts.variant, file)];
  const variants = combos.map((values) => {
    const name = variantName(values);
    const substituted = substitute(data, values, [], source);
    try {
      const search = extractSearch(substituted, source);
      checkModelKeys(substituted, source);
      validateRecipeData(substituted, source);
      checkCandidates(substituted, search, source);
      return normalise(substituted as RawRecipe, source, merged.files, search, { name, values }, opts.allowOutside);
    } catch (e) {
      // The value may come from the matrix: say which variant, so the bad combination can be found.
      if (e instanceof McbError)
        throw new McbError(
          e.code,
          `in variant ${name} (values from \`matrix\` at ${formatPosition(source.positionOf(['matrix']))}): ${e.message}`,
        );
      throw e;
    }
  });
  return { file: path, variants, matrix, gate };
}

/** `--variant "bits=8,sparsity=0.5"`, in any order of its pairs. */
function pickVariant(combos: Record<string, unknown>[], wanted: string, file: string): Record<string, unknown> {
  const pairs = (name: string) =>
    name
      .split(',')
      .map((p) => p.trim())
      .sort()
      .join(',');
  const found = combos.find((c) => pairs(variantName(c)) === pairs(wanted));
  if (!found) {
    const names = combos.map(variantName);
    throw new McbError(
      'MCB_USAGE',
      `--variant ${wanted} is not a variant of ${file}${suggest(wanted, names)}; its variants are: ${names.join(', ')}.`,
    );
  }
  return found;
}

/**
 * Every matrix key must be used (an unused one makes identical variants), and variants must not share an
 * output folder: `output` itself may not depend on the matrix (each variant gets its own folder under it).
 */
function checkMatrixUse(data: unknown, matrix: Record<string, unknown[]>, source: RecipeSource): void {
  const used = new Map<string, (string | number)[]>();
  const collect = (v: unknown, path: (string | number)[]): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(PLACEHOLDER)) if (!used.has(m[1]!)) used.set(m[1]!, path);
      if (path.length === 1 && path[0] === 'output' && new RegExp(PLACEHOLDER.source).test(v)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`output\` at ${formatPosition(source.positionOf(['output']))} uses the matrix; each variant is written to its own folder under \`output\` already (e.g. out/name/bits-8), so write one folder.`,
        );
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => collect(x, [...path, i]));
    else if (isPlainObject(v))
      for (const [k, x] of Object.entries(v)) if (!(path.length === 0 && k === 'matrix')) collect(x, [...path, k]);
  };
  collect(data, []);
  for (const [key, path] of used) {
    if (!(key in matrix)) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${formatPosition(source.positionOf(path))} uses \`matrix.${key}\`, which the matrix does not define${suggest(key, Object.keys(matrix))}; the matrix defines ${Object.keys(matrix).join(', ')}.`,
      );
    }
  }
  for (const key of Object.keys(matrix)) {
    if (!used.has(key))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`matrix.${key}\` at ${formatPosition(source.positionOf(['matrix', key]))} is not used anywhere in the recipe (no \`\${{ matrix.${key} }}\`), so its variants would be identical; use it or remove it.`,
      );
  }
  const folders = new Map<string, string>();
  for (const values of cartesian(matrix)) {
    const name = variantName(values);
    const folder = variantFolder({ name, values });
    const clash = folders.get(folder);
    if (clash !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `the matrix at ${formatPosition(source.positionOf(['matrix']))} makes variants ${clash} and ${name} that ${clash === name ? 'have the same name' : `share the output folder ${folder}`}; make the values differ in more than case, quoting or punctuation.`,
      );
    }
    folders.set(folder, name);
  }
}

/**
 * `model` takes exactly one of `path` and `train` (and `nonFinite` only beside `path`). Checked before the
 * schema, whose anyOf/not would otherwise report the mistake as three abstract errors.
 */
function checkModelKeys(data: unknown, source: RecipeSource): void {
  const model = isPlainObject(data) ? data.model : undefined;
  if (!isPlainObject(model)) return;
  const at = () => formatPosition(source.positionOf(['model']));
  const sources = ['path', 'train'].filter((k) => k in model);
  if (sources.length !== 1 && Object.keys(model).every((k) => ['path', 'train', 'nonFinite'].includes(k))) {
    throw new McbError('MCB_RECIPE_INVALID', `\`model\` must have exactly one of: path, train at ${at()}`);
  }
  if ('nonFinite' in model && 'train' in model) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`model.nonFinite\` at ${formatPosition(source.positionOf(['model', 'nonFinite']))} applies to a model file (\`model.path\`); a model mcbuild trains is checked by training itself. Remove it.`,
    );
  }
}

/** Each search candidate must be a value the schema accepts for its option, reported at the candidate. */
function checkCandidates(data: unknown, search: ReadonlyMap<number, SearchSpec>, source: RecipeSource): void {
  for (const [index, spec] of search) {
    const entry = (data as { passes: Record<string, Record<string, unknown>>[] }).passes[index]!;
    const name = Object.keys(entry)[0]!;
    spec.candidates.forEach((value, j) => {
      if (j === 0) return; // the first is in the recipe as validated
      const trial = structuredClone(data) as { passes: Record<string, Record<string, unknown>>[] };
      trial.passes[index]![name]![spec.option] = value;
      const optionPath = ['passes', index, name, spec.option].join('\u0000');
      const at: RecipeSource = {
        file: source.file,
        positionOf: (path, o) =>
          path.slice(0, 4).join('\u0000') === optionPath
            ? source.positionOf(['passes', index, name, 'candidates', j])
            : source.positionOf(path, o),
      };
      validateRecipeData(trial, at);
    });
  }
}

/**
 * The recipe file and the files it extends, read leniently (no validation; unreadable links skipped): for
 * watch mode, which must watch a broken base too, so that saving the fix rebuilds.
 */
export async function extendedFiles(file: string): Promise<string[]> {
  const seen: string[] = [];
  const visit = async (path: string): Promise<void> => {
    if (seen.includes(path) || seen.length > MAX_EXTENDS_DEPTH * 4) return;
    seen.push(path);
    let ext: unknown;
    try {
      ext = (parseYaml(await readFile(path, 'utf8'), { maxAliasCount: MAX_ALIASES }) as { extends?: unknown } | null)
        ?.extends;
    } catch {
      return;
    }
    for (const rel of typeof ext === 'string' ? [ext] : Array.isArray(ext) ? ext : []) {
      if (typeof rel === 'string' && rel !== '') await visit(resolve(dirname(path), rel));
    }
  };
  await visit(resolve(file));
  return seen;
}

interface Merged {
  data: unknown;
  owner: Owner;
  /** Every file read: the document and the documents it extends. */
  files: string[];
}

/** One YAML document, parsed strictly and size- and alias-limited. */
async function readDocument(path: string, asGiven: string): Promise<{ data: unknown; source: SourceMap }> {
  const text = await readRecipeText(path, asGiven);
  const deepAt = flowTooDeep(text);
  if (deepAt !== undefined) {
    throw new McbError(
      'MCB_RECIPE_YAML',
      `${formatPosition({ file: path, line: deepAt, col: 1 })}: YAML error: brackets nested more than ${MAX_RECIPE_DEPTH * 2} deep; recipes are a few levels deep (passes[0].quantize.bits). Flatten the document.`,
    );
  }
  const lines = new LineCounter();
  // uniqueKeys: a duplicated key is an error, not "the last one silently wins".
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const source = new SourceMap(path, doc, lines);
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const at = formatPosition(source.at(problem.pos[0]));
    const what =
      problem.code === 'DUPLICATE_KEY'
        ? 'a key appears twice in the same map'
        : /call stack/i.test(problem.message)
          ? `the document is nested too deeply (recipes may be at most ${MAX_RECIPE_DEPTH} levels deep)`
          : firstLine(problem.message);
    throw new McbError(
      'MCB_RECIPE_YAML',
      `${at}: YAML error: ${what}. Fix the YAML at that line (indentation, quoting, a missing colon or a repeated key are the usual causes).`,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown;
  } catch (e) {
    throw new McbError(
      'MCB_RECIPE_YAML',
      `${formatPosition(source.at(0))}: YAML error: ${firstLine(e instanceof Error ? e.message : String(e))}. Recipes may use at most ${MAX_ALIASES} alias expansions; write the values out instead.`,
    );
  }
  checkLimits(data, source);
  return { data, source };
}

/**
 * `[[[[…` thousands deep overflows the YAML parser's stack (and near the limit V8 can abort the whole process
 * compiling a regex), so flow nesting is counted on the text first. Quoted strings and comments are skipped;
 * the count is conservative (twice the document limit), the positioned check in checkLimits does the rest.
 * Returns the line where the nesting goes too deep.
 */
function flowTooDeep(text: string): number | undefined {
  const limit = MAX_RECIPE_DEPTH * 2;
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const prev = i === 0 ? '\n' : text[i - 1]!;
    if (c === '\n') line++;
    else if ((c === '"' || c === "'") && /[\s[{,:]/.test(prev)) {
      // Skip a quoted scalar ("…\"…" or '…''…'); an unterminated one is the parser's error to report.
      for (i++; i < text.length && text[i] !== c; i++) {
        if (c === '"' && text[i] === '\\') i++;
        else if (text[i] === '\n') line++;
      }
    } else if (c === '#' && /\s/.test(prev)) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '[' || c === '{') {
      if (++depth > limit) return line;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return undefined;
}

/**
 * Depth and string-length limits, checked before anything else walks the document, so a hostile recipe is
 * one clear error instead of a stack overflow or a multi-megabyte message. Iterative: the walk itself must
 * not recurse on a document built to be deep.
 */
function checkLimits(data: unknown, source: RecipeSource): void {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: data, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > MAX_RECIPE_STRING) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${formatPosition(source.positionOf(path))}: \`${formatDataPath(path)}\` is a string of ${v.length} characters; recipe values may be at most ${MAX_RECIPE_STRING}. Put large data in a file and name its path.`,
        );
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (path.length >= MAX_RECIPE_DEPTH) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${formatPosition(source.positionOf(path))}: the recipe is nested more than ${MAX_RECIPE_DEPTH} levels deep here; recipes are a few levels deep (passes[0].quantize.bits). Flatten the document.`,
      );
    }
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, x] of entries) {
      if (typeof k === 'string' && k.length > MAX_RECIPE_STRING) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${formatPosition(source.positionOf(path))}: a key of ${k.length} characters; recipe keys may be at most ${MAX_RECIPE_STRING}.`,
        );
      }
      stack.push({ v: x, path: [...path, k] });
    }
  }
}

/**
 * A document merged over the documents it `extends`, in order: maps merge key by key, the later document
 * winning; lists and values are replaced whole, except `overrides`, whose blocks are appended (the bases'
 * first), so a later block overrides an earlier one option by option, as within one file. `key: null`
 * removes what a base set (`overrides: null` drops the bases' blocks). Relative paths
 * (`model.path`, `output`) are resolved against the file that wrote them.
 */
async function readMerged(path: string, asGiven: string, chain: readonly string[]): Promise<Merged> {
  const { data, source } = await readDocument(path, asGiven);
  const own: Merged = { data, owner: { source, path: [] }, files: [path] };
  if (!isPlainObject(data)) return own;
  const dir = dirname(path);
  if (isPlainObject(data.model) && typeof data.model.path === 'string' && !isAbsolute(data.model.path))
    data.model.path = resolve(dir, data.model.path);
  if (typeof data.output === 'string' && !isAbsolute(data.output)) data.output = resolve(dir, data.output);
  const ext = data.extends;
  delete data.extends;
  if (ext === undefined) return own;
  const at = (i?: number) => formatPosition(source.positionOf(i === undefined ? ['extends'] : ['extends', i]));
  const list =
    typeof ext === 'string'
      ? [ext]
      : Array.isArray(ext) && ext.length > 0 && ext.every((e) => typeof e === 'string' && e !== '')
        ? (ext as string[])
        : undefined;
  if (!list || list.includes('')) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`extends\` at ${at()} must be a recipe path or a list of them, such as \`extends: ./base.yaml\` (got ${JSON.stringify(ext)}).`,
    );
  }
  if (chain.length >= MAX_EXTENDS_DEPTH) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`extends\` at ${at()} goes ${MAX_EXTENDS_DEPTH + 1} files deep (${[...chain, path].map((p) => relative(process.cwd(), p)).join(' → ')}); flatten the chain.`,
    );
  }
  let acc: Merged | undefined;
  for (const [i, rel] of list.entries()) {
    const basePath = resolve(dir, rel);
    if (basePath === path || chain.includes(basePath)) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`extends\` at ${at(typeof ext === 'string' ? undefined : i)} makes a cycle: ${[...chain, path, basePath].map((p) => relative(process.cwd(), p)).join(' → ')}. Remove one of the links.`,
      );
    }
    let base: Merged;
    try {
      base = await readMerged(basePath, rel, [...chain, path]);
    } catch (e) {
      if (e instanceof McbError && e.code === 'MCB_RECIPE_NOT_FOUND') {
        const why =
          errnoCodeOf(e.cause) === 'ENOENT' || /does not exist/.test(e.message)
            ? `which does not exist (looked at ${basePath})`
            : /is a directory/.test(e.message)
              ? 'which is a directory'
              : `which cannot be read (${errnoCodeOf(e.cause) ?? 'unreadable'})`;
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`extends\` at ${at(typeof ext === 'string' ? undefined : i)} names ${rel}, ${why}; fix the path, relative to this file.`,
        );
      }
      throw e;
    }
    if (!isPlainObject(base.data)) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${rel}, extended at ${at(typeof ext === 'string' ? undefined : i)}, is not a map of recipe keys; a base recipe is a partial recipe such as \`data: { eval: { dataset: mnist } }\`.`,
      );
    }
    acc = acc ? { ...merge(acc, base, 0), files: [...new Set([...acc.files, ...base.files])] } : base;
  }
  const merged = merge(acc!, own, 0);
  return { ...merged, files: [path, ...acc!.files.filter((f) => f !== path)] };
}

function merge(a: Omit<Merged, 'files'>, b: Omit<Merged, 'files'>, depth: number): Omit<Merged, 'files'> {
  if (!isPlainObject(a.data) || !isPlainObject(b.data)) return b;
  const data: Record<string, unknown> = {};
  const children = new Map<string, Owner>();
  for (const [k, v] of Object.entries(a.data)) {
    data[k] = v;
    children.set(k, ownerOf(a.owner, k));
  }
  for (const [k, v] of Object.entries(b.data)) {
    const mine = { data: v, owner: ownerOf(b.owner, k) };
    if (v === null && k in a.data) {
      // `key: null` removes what a base set (a child that trains instead of loading: `model: { path: null, train: … }`).
      delete data[k];
      children.delete(k);
    } else if (!(k in a.data)) {
      data[k] = v;
      children.set(k, mine.owner);
    } else if (depth === 0 && k === 'overrides' && Array.isArray(a.data[k]) && Array.isArray(v)) {
      const first = a.data[k] as unknown[];
      const theirs = ownerOf(a.owner, k);
      const blocks = new Map<string, Owner>();
      first.forEach((_, i) => blocks.set(String(i), ownerOf(theirs, i)));
      v.forEach((_, j) => blocks.set(String(first.length + j), ownerOf(mine.owner, j)));
      data[k] = [...first, ...v];
      children.set(k, { source: mine.owner.source, path: mine.owner.path, children: blocks });
    } else {
      const m = merge({ data: a.data[k], owner: ownerOf(a.owner, k) }, mine, depth + 1);
      data[k] = m.data;
      children.set(k, m.owner);
    }
  }
  return { data, owner: { source: b.owner.source, path: b.owner.path, children } };
}

/** `--set passes[2].quantize.bits=4`: the value is read as YAML (4 is a number, int4 a string, [8, 4] a list). */
function applySet(merged: Merged, file: string, assignment: string): void {
  const eq = assignment.indexOf('=');
  const pathText = eq > 0 ? assignment.slice(0, eq) : '';
  const segments = parseSetPath(pathText);
  if (!segments) {
    throw new McbError(
      'MCB_USAGE',
      `--set ${assignment} is not of the form path=value, such as \`--set passes[2].quantize.bits=4\` or \`--set thresholds.accuracy.maxDrop=0.005\` (list indices count from 0).`,
    );
  }
  const reserved = segments.find((seg) => typeof seg === 'string' && RESERVED_KEYS.has(seg));
  if (reserved !== undefined)
    throw new McbError(
      'MCB_USAGE',
      `--set ${assignment}: \`${String(reserved)}\` is not a recipe key; name the value to change, such as passes[0].quantize.bits.`,
    );
  if (segments[0] === 'extends') {
    throw new McbError(
      'MCB_USAGE',
      `--set ${assignment}: \`extends\` is read before --set applies, so it cannot be set on the command line; write it in the recipe, or pass the other recipe file itself.`,
    );
  }
  let value: unknown;
  if (flowTooDeep(assignment.slice(eq + 1)) !== undefined) {
    throw new McbError(
      'MCB_USAGE',
      `--set ${assignment.slice(0, 80)}…: the value nests brackets more than ${MAX_RECIPE_DEPTH * 2} deep; write a plain value, or a short list or map.`,
    );
  }
  try {
    value = parseYaml(assignment.slice(eq + 1), { strict: true, maxAliasCount: 0 });
  } catch (e) {
    throw new McbError(
      'MCB_USAGE',
      `--set ${assignment}: the value is not valid YAML (${firstLine(e instanceof Error ? e.message : String(e))}); quote it or write a plain number or word.`,
    );
  }
  if (!isPlainObject(merged.data)) merged.data = {};
  let container = merged.data as Record<string, unknown> | unknown[];
  let owner = merged.owner;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    const shown = formatDataPath(segments.slice(0, i + 1));
    if (Array.isArray(container) !== (typeof seg === 'number')) {
      throw new McbError(
        'MCB_USAGE',
        `--set ${assignment}: \`${formatDataPath(segments.slice(0, i))}\` is ${Array.isArray(container) ? 'a list; index it as [0], [1], …' : 'a map; name a key, not an index'}.`,
      );
    }
    if (typeof seg === 'number' && seg >= (container as unknown[]).length) {
      throw new McbError(
        'MCB_USAGE',
        `--set ${assignment}: \`${shown}\` does not exist; the list has ${(container as unknown[]).length} entries (indices count from 0).`,
      );
    }
    owner.children ??= new Map(
      Object.keys(container).map((k) => [
        k,
        { source: owner.source, path: [...owner.path, Array.isArray(container) ? Number(k) : k] },
      ]),
    );
    if (last) {
      (container as Record<string, unknown>)[seg] = value;
      owner.children.set(String(seg), { source: new CommandLineSource(file, assignment), path: [] });
      return;
    }
    let next = (container as Record<string, unknown>)[seg];
    let created = false;
    if (next === undefined || next === null) {
      if (typeof segments[i + 1] === 'number')
        throw new McbError(
          'MCB_USAGE',
          `--set ${assignment}: \`${shown}\` is not set, so it has no entry ${String(segments[i + 1])}; set the whole list instead.`,
        );
      next = {};
      created = true;
      (container as Record<string, unknown>)[seg] = next;
    }
    if (typeof next !== 'object') {
      throw new McbError(
        'MCB_USAGE',
        `--set ${assignment}: \`${shown}\` is ${JSON.stringify(next)}, not a map or list; set \`${shown}\` itself.`,
      );
    }
    // A map --set had to create was written on the command line: errors about it point there.
    const child: Owner = created
      ? { source: new CommandLineSource(file, assignment), path: [], children: new Map() }
      : ownerOf(owner, seg);
    owner.children.set(String(seg), child);
    owner = child;
    container = next as Record<string, unknown> | unknown[];
  }
}

function parseSetPath(text: string): (string | number)[] | undefined {
  if (!/^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(text)) return undefined;
  return [...text.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

/**
 * `--set passes[1].quantize.bits=4` on an entry written `dtype: uint8`: the command line's value replaces its
 * alternatives (as an override block's would), instead of the two disagreeing. The pass table is imported
 * here, when it is needed, because the passes themselves import the recipe module.
 */
async function dropReplacedAlternatives(data: unknown, assignments: readonly string[]): Promise<void> {
  const { getPass } = await import('../passes/index.js');
  const passes = (data as { passes?: unknown } | null)?.passes;
  if (!Array.isArray(passes)) return;
  const set = assignments.map((a) => parseSetPath(a.slice(0, Math.max(0, a.indexOf('=')))) ?? []);
  for (const segs of set) {
    const [top, index, name, option] = segs;
    if (
      top !== 'passes' ||
      typeof index !== 'number' ||
      typeof name !== 'string' ||
      typeof option !== 'string' ||
      segs.length !== 4
    )
      continue;
    const entry = (passes[index] as Record<string, unknown> | undefined)?.[name];
    if (!isPlainObject(entry)) continue;
    for (const group of getPass(name)?.exclusiveOptions ?? []) {
      if (!group.includes(option)) continue;
      for (const other of group) {
        const alsoSet = set.some(
          (t) => t.length === 4 && t[0] === 'passes' && t[1] === index && t[2] === name && t[3] === other,
        );
        if (other !== option && !alsoSet) delete entry[other];
      }
    }
  }
}

/** `matrix: { bits: [8, 4] }`: checked here, before substitution, because the schema sees substituted recipes. */
function readMatrix(raw: unknown, source: RecipeSource): Record<string, unknown[]> | undefined {
  if (raw === undefined) return undefined;
  const at = (...p: (string | number)[]) => formatPosition(source.positionOf(['matrix', ...p]));
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`matrix\` at ${at()} must be a map from names to lists of values, such as \`matrix: { bits: [8, 4], sparsity: [0.5, 0.9] }\`.`,
    );
  }
  for (const [k, v] of Object.entries(raw)) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `matrix key ${JSON.stringify(k)} at ${at(k)} must be a plain name (letters, digits, _ and -) so that \`\${{ matrix.${k} }}\` can name it.`,
      );
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`matrix.${k}\` at ${at(k)} must be a non-empty list of numbers, strings or booleans (got ${JSON.stringify(v)}).`,
      );
    }
    if (new Set(v.map((x) => JSON.stringify(x))).size !== v.length)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`matrix.${k}\` at ${at(k)} lists a value twice; each variant must differ.`,
      );
  }
  return raw as Record<string, unknown[]>;
}

function cartesian(matrix: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(matrix)) out = out.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  return out;
}

export function variantName(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

/** `${{ matrix.bits }}` alone is replaced by the value itself (a number stays a number); inside text, by its text. */
function substitute(
  value: unknown,
  values: Record<string, unknown>,
  path: (string | number)[],
  source: RecipeSource,
): unknown {
  if (typeof value === 'string') {
    const unknownKey = [...value.matchAll(PLACEHOLDER)].find((m) => !(m[1]! in values));
    if (unknownKey) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${formatPosition(source.positionOf(path))} uses \`matrix.${unknownKey[1]}\`, which the matrix does not define${suggest(unknownKey[1]!, Object.keys(values))}; the matrix defines ${Object.keys(values).join(', ')}.`,
      );
    }
    const whole = /^\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/.exec(value);
    if (whole) return values[whole[1]!];
    return value.replace(PLACEHOLDER, (_, k: string) => String(values[k]));
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, values, [...path, i], source));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        path.length === 0 && k === 'matrix' ? v : substitute(v, values, [...path, k], source),
      ]),
    );
  }
  return value;
}

function findPlaceholder(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return new RegExp(PLACEHOLDER.source).test(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = findPlaceholder(v, [...path, i]);
      if (found) return found;
    }
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const found = findPlaceholder(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}

function errnoCodeOf(e: unknown): string | undefined {
  return e === undefined ? undefined : errnoCode(e);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readRecipeText(path: string, asGiven: string): Promise<string> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) {
      throw new McbError(
        'MCB_RECIPE_NOT_FOUND',
        `${asGiven} is a directory, not a recipe file. Pass the path of a .yaml recipe, such as recipes/mnist-mlp.yaml.`,
      );
    }
    // A device or FIFO (/dev/zero) passes the size check with size 0 and then never ends: regular files only.
    if (!s.isFile()) {
      throw new McbError(
        'MCB_RECIPE_NOT_FOUND',
        `${asGiven} is not a regular file. Pass the path of a .yaml recipe, such as recipes/mnist-mlp.yaml.`,
      );
    }
    if (s.size > MAX_RECIPE_BYTES) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${asGiven} is ${s.size} bytes; a recipe may be at most ${MAX_RECIPE_BYTES} bytes. Check that you passed the recipe and not a model or data file.`,
      );
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof McbError) throw e;
    if (errnoCode(e) === 'ENOENT') {
      throw new McbError(
        'MCB_RECIPE_NOT_FOUND',
        `recipe file ${asGiven} does not exist (looked at ${path}). Check the path, or list the examples in recipes/.`,
      );
    }
    throw new McbError(
      'MCB_RECIPE_NOT_FOUND',
      `cannot read recipe file ${asGiven}: ${errnoCode(e) ?? String(e)}. Check that it is a readable file.`,
    );
  }
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

// The shape the schema guarantees; optional members get their defaults in normalise().
type RawDataSpec =
  | { dataset: 'mnist'; split?: 'train' | 'test'; limit?: number }
  | ({
      dataset: 'images';
      path: string;
      split?: 'train' | 'test';
      limit?: number;
      size?: [number, number];
      channels?: 1 | 3 | 4;
      classes?: string[];
      labels?: false;
    } & RawNormalisation)
  | ({ dataset: 'npy'; x: string; y?: string; limit?: number; numClasses?: number } & RawNormalisation)
  | ({
      dataset: 'npz';
      path: string;
      x?: string;
      y?: string;
      labels?: false;
      limit?: number;
      numClasses?: number;
    } & RawNormalisation);
interface RawNormalisation {
  scale?: number;
  offset?: number;
  mean?: number[];
  std?: number[];
}
type DataRole = 'eval' | 'calibration' | 'train';
interface RawRecipe {
  name: string;
  description?: string;
  model: {
    path?: string;
    nonFinite?: 'fail' | 'warn';
    train?: Partial<TrainSpec> & { architecture: string; dataset?: 'mnist'; limit?: number };
  };
  data: { eval: RawDataSpec; calibration?: RawDataSpec; train?: RawDataSpec };
  passes?: Record<string, Record<string, unknown> | null>[];
  overrides?: ({ layers?: string[]; classes?: string[] } & Record<string, unknown>)[];
  thresholds?: {
    accuracy?: Thresholds['accuracy'];
    fidelity?: Thresholds['fidelity'];
    latency?: Thresholds['latency'];
    metrics?: Record<string, Record<string, number | string>>;
    params?: CountThreshold;
    nonZeroParams?: CountThreshold;
    macs?: CountThreshold;
    flops?: CountThreshold;
    size?: {
      maxBytes?: number | string;
      maxGzipBytes?: number | string;
      maxBrotliBytes?: number | string;
      minRatio?: number;
    };
  };
  output?: string;
  runtime?: { backend?: Recipe['runtime']['backend']; latency?: Recipe['runtime']['latency'] };
}

/**
 * One `data.<role>` entry with its defaults filled in. File paths are resolved against the file that wrote
 * them (a base recipe's own folder for a path it sets; the recipe's for `--set`), as `model.path` is, and
 * written back into `raw` so the recipe's `document` holds them absolute too.
 */
function dataSpec(raw: RawDataSpec, role: DataRole, source: RecipeSource): DataSpec {
  const defaultSplit = role === 'eval' ? 'test' : 'train';
  const limit = raw.limit === undefined ? {} : { limit: raw.limit };
  if (raw.dataset === 'mnist') return { dataset: 'mnist', split: raw.split ?? defaultSplit, ...limit };
  const file = (key: 'path' | 'x' | 'y'): string => {
    const fields = raw as unknown as Record<string, string>;
    const written = fields[key]!;
    const absolute = isAbsolute(written)
      ? written
      : resolve(dirname(source.positionOf(['data', role, key]).file), written);
    fields[key] = absolute;
    return absolute;
  };
  const norm = {
    offset: raw.offset ?? 0,
    ...(raw.mean ? { mean: raw.mean } : {}),
    ...(raw.std ? { std: raw.std } : {}),
  };
  switch (raw.dataset) {
    case 'images':
      return {
        dataset: 'images',
        path: file('path'),
        split: raw.split ?? defaultSplit,
        ...limit,
        ...(raw.size ? { size: raw.size } : {}),
        channels: raw.channels ?? 3,
        ...(raw.classes ? { classes: raw.classes } : {}),
        ...(raw.labels === false ? { labels: false as const } : {}),
        // Pixels are 0..255: by default they become 0..1, as the mnist dataset's are.
        scale: raw.scale ?? 1 / 255,
        ...norm,
      };
    case 'npy':
      return {
        dataset: 'npy',
        x: file('x'),
        ...(raw.y === undefined ? {} : { y: file('y') }),
        ...limit,
        ...(raw.numClasses === undefined ? {} : { numClasses: raw.numClasses }),
        scale: raw.scale ?? 1,
        ...norm,
      };
    case 'npz':
      return {
        dataset: 'npz',
        path: file('path'),
        x: raw.x ?? 'x',
        ...(raw.y === undefined ? {} : { y: raw.y }),
        ...(raw.labels === false ? { labels: false as const } : {}),
        ...limit,
        ...(raw.numClasses === undefined ? {} : { numClasses: raw.numClasses }),
        scale: raw.scale ?? 1,
        ...norm,
      };
  }
}

function normalise(
  raw: RawRecipe,
  source: RecipeSource,
  files: string[],
  search: Map<number, SearchSpec>,
  variant?: Variant,
  allowOutside?: boolean,
): Recipe {
  const dir = dirname(source.file);
  const fromRecipe = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const data: Recipe['data'] = { eval: dataSpec(raw.data.eval, 'eval', source) };
  if (raw.data.calibration) data.calibration = dataSpec(raw.data.calibration, 'calibration', source);
  if (raw.data.train) data.train = dataSpec(raw.data.train, 'train', source);

  let model: Recipe['model'];
  if (raw.model.path !== undefined) {
    model = {
      kind: 'file',
      path: fromRecipe(raw.model.path),
      ...(raw.model.nonFinite === undefined ? {} : { nonFinite: raw.model.nonFinite }),
    };
  } else {
    const t = raw.model.train!;
    const trainData: DataSpec = t.dataset
      ? { dataset: t.dataset, split: 'train', ...(t.limit === undefined ? {} : { limit: t.limit }) }
      : {
          ...(data.train ?? { dataset: 'mnist', split: 'train' }),
          ...(t.limit === undefined ? {} : { limit: t.limit }),
        };
    model = {
      kind: 'train',
      train: {
        architecture: t.architecture,
        options: t.options ?? {},
        data: trainData,
        epochs: t.epochs ?? 3,
        batchSize: t.batchSize ?? 64,
        learningRate: t.learningRate ?? 0.001,
        optimizer: t.optimizer ?? 'adam',
        schedule: t.schedule ?? { type: 'constant' },
        seed: t.seed ?? 1,
      },
    };
  }

  const passes: PassEntry[] = (raw.passes ?? []).map((entry, index) => {
    const [name, options] = Object.entries(entry)[0]!;
    const s = search.get(index);
    return { index, name, rawOptions: options ?? {}, ...(s ? { search: s } : {}) };
  });

  const overrides: OverrideBlock[] = (raw.overrides ?? []).map(({ layers, classes, pass, ...passes }, index) => {
    if (!layers && !classes) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`overrides[${index}]\` at ${formatPosition(source.positionOf(['overrides', index]))} names no layers; add \`layers: [...]\` (names, globs or re:regex) and/or \`classes: [...]\` (Conv2D, Dense, ...).`,
      );
    }
    if (Object.keys(passes).length === 0) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`overrides[${index}]\` at ${formatPosition(source.positionOf(['overrides', index]))} configures no pass; add a pass name with its options for these layers, or \`skip\` (e.g. \`quantize: { bits: 4 }\` or \`quantize: skip\`).`,
      );
    }
    return {
      index,
      ...(layers ? { layers } : {}),
      ...(classes ? { classes } : {}),
      ...(pass === undefined ? {} : { pass: pass as number }),
      passes: passes as OverrideBlock['passes'],
    };
  });

  const thresholds: Thresholds = {};
  if (raw.thresholds?.accuracy) {
    thresholds.accuracy = { ...raw.thresholds.accuracy };
    const sig = thresholds.accuracy.significance;
    const at = () => formatPosition(source.positionOf(['thresholds', 'accuracy', 'significance']));
    if (sig && thresholds.accuracy.maxDrop === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.accuracy.significance\` at ${at()} judges \`maxDrop\`, which is not set; add \`maxDrop\` (e.g. 0 with mcnemar, 0.005 with bootstrap).`,
      );
    }
    if (sig?.test === 'mcnemar' && thresholds.accuracy.maxDrop !== 0) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.accuracy.significance\` at ${at()} uses mcnemar, which tests a drop of exactly 0, but maxDrop is ${String(thresholds.accuracy.maxDrop)}; use \`test: bootstrap\` for a margin, or maxDrop: 0.`,
      );
    }
  }
  if (raw.thresholds?.fidelity) thresholds.fidelity = { ...raw.thresholds.fidelity };
  if (raw.thresholds?.metrics) {
    thresholds.metrics = {};
    for (const [name, set] of Object.entries(raw.thresholds.metrics)) {
      const limits: Record<string, number> = {};
      for (const [limit, value] of Object.entries(set)) {
        // Byte metrics take sizes such as "4MB"; the schema admits strings only there.
        const n = typeof value === 'string' ? parseByteSize(value) : value;
        if (n === undefined)
          throw new McbError(
            'MCB_RECIPE_INVALID',
            `\`thresholds.metrics.${name}.${limit}\` is not a size at ${formatPosition(source.positionOf(['thresholds', 'metrics', name, limit]))}; write bytes or a size such as "4MB".`,
          );
        limits[limit] = n;
      }
      thresholds.metrics[name] = limits;
    }
  }
  if (raw.thresholds?.latency) {
    const l = (thresholds.latency = { ...raw.thresholds.latency });
    const at = (key: string) => formatPosition(source.positionOf(['thresholds', 'latency', key]));
    // The latency step times the batch sizes of runtime.latency; a gate on another one would have nothing to read.
    const measured = raw.runtime?.latency?.batchSizes ?? [...LATENCY_BATCHES];
    if (l.batchSize !== undefined && !measured.includes(l.batchSize)) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency.batchSize\` at ${at('batchSize')} is ${l.batchSize}, but latency is measured at batch ${measured.join(', ')}; add ${l.batchSize} to \`runtime.latency.batchSizes\` or gate one of those.`,
      );
    }
    if (l.minRatio === undefined && l.maxMs === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency\` at ${formatPosition(source.positionOf(['thresholds', 'latency']))} sets no limit; add \`minRatio\` (speed-up against the baseline, e.g. 1.0 = no slower) or \`maxMs\`.`,
      );
    }
    if (l.significance && l.minRatio === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency.significance\` at ${at('significance')} judges \`minRatio\`, which is not set; add \`minRatio\` (e.g. 1.0).`,
      );
    }
  }
  for (const key of COUNT_METRICS) if (raw.thresholds?.[key]) thresholds[key] = { ...raw.thresholds[key] };
  if (raw.thresholds?.size) {
    const { minRatio } = raw.thresholds.size;
    thresholds.size = {};
    for (const key of ['maxBytes', 'maxGzipBytes', 'maxBrotliBytes'] as const) {
      const value = raw.thresholds.size[key];
      if (value === undefined) continue;
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`thresholds.size.${key}\` is not a size at ${formatPosition(source.positionOf(['thresholds', 'size', key]))}; write bytes or a size such as "300kB".`,
        );
      }
      thresholds.size[key] = bytes;
    }
    if (minRatio !== undefined) thresholds.size.minRatio = minRatio;
  }

  const root = findProjectRoot(source.file);
  const output = variantOutput(
    raw.output !== undefined ? fromRecipe(raw.output) : join(root, 'out', raw.name),
    variant,
  );
  checkInsideProject(
    output,
    root,
    raw.output !== undefined
      ? `\`output\` at ${formatPosition(source.positionOf(['output']))}`
      : `the default output folder out/${raw.name}`,
    allowOutside,
  );
  return {
    file: source.file,
    files,
    document: structuredClone(raw) as unknown as Record<string, unknown>,
    name: raw.name,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    model,
    data,
    passes,
    overrides,
    thresholds,
    output,
    runtime: {
      backend: raw.runtime?.backend ?? 'auto',
      ...(raw.runtime?.latency ? { latency: { ...raw.runtime.latency } } : {}),
    },
    ...(variant ? { variant } : {}),
    source,
  };
}

/** Each variant of a matrix writes its own folder under the recipe's output: out/sweep/bits-8_sparsity-0.5. */
function variantOutput(output: string, variant?: Variant): string {
  return variant ? join(output, variantFolder(variant)) : output;
}

/** A variant's folder name: bits-8_sparsity-0.5. */
export function variantFolder(variant: Variant): string {
  return Object.entries(variant.values)
    .map(([k, v]) => `${k}-${String(v)}`)
    .join('_')
    .replace(/[^A-Za-z0-9._-]/g, '_');
}
