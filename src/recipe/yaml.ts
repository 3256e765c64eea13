/**
 * One recipe document as text and YAML: read with size limits, parsed strictly (duplicate keys, aliases
 * bounded, nesting bounded) into data and a source map of positions, so every later error can say file:line:col.
 */
import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { errnoCode, McbError } from '../errors.js';
import { formatDataPath, formatPosition, SourceMap, type RecipeSource } from './source.js';

/** Recipes are hand-written text; anything this large is a mistake (or an attack), not a recipe. */
const MAX_RECIPE_BYTES = 1024 * 1024;
/** Anchors and aliases are handy for repeating a block; thousands of them are a "billion laughs" bomb. */
export const MAX_ALIASES = 100;
/**
 * A recipe is a handful of levels deep (passes[0].quantize.bits is 4); a document nested far deeper is
 * generated or hostile, and every later walk (merge, validation, canonical keys) recurses on it.
 */
export const MAX_RECIPE_DEPTH = 32;
/** The longest text a recipe value needs is a path or a description; a 64 kB string is a mistake. */
export const MAX_RECIPE_STRING = 64 * 1024;

/** One YAML document, parsed strictly and size- and alias-limited. */
export async function readDocument(path: string, asGiven: string): Promise<{ data: unknown; source: SourceMap }> {
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
export function flowTooDeep(text: string): number | undefined {
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
export function checkLimits(data: unknown, source: RecipeSource): void {
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
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

export function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

// The shape the schema guarantees; optional members get their defaults in normalise().
