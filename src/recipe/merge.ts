/**
 * A recipe document merged with the documents it `extends` and the command line's `--set` assignments, with
 * the owner of every value (file or argument) kept for error positions.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errnoCode, McbError } from '../errors.js';
import { CommandLineSource, formatDataPath, formatPosition, ownerOf, type Owner } from './source.js';
import type { RecipeLanguage } from './language.js';
import { firstLine, flowTooDeep, isPlainObject, MAX_ALIASES, MAX_RECIPE_DEPTH, readDocument } from './yaml.js';

/** Bases may extend bases; a chain this deep is a mistake. */
const MAX_EXTENDS_DEPTH = 8;
/** Keys that would reach an object's prototype rather than a recipe value. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

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

export interface Merged {
  data: unknown;
  owner: Owner;
  /** Every file read: the document and the documents it extends. */
  files: string[];
}

/**
 * A document merged over the documents it `extends`, in order: maps merge key by key, the later document
 * winning; lists and values are replaced whole, except `overrides`, whose blocks are appended (the bases'
 * first), so a later block overrides an earlier one option by option, as within one file. `key: null`
 * removes what a base set (`overrides: null` drops the bases' blocks). Relative paths
 * (`model.path`, `output`) are resolved against the file that wrote them.
 */
export async function readMerged(path: string, asGiven: string, chain: readonly string[]): Promise<Merged> {
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
      data[k] = [...first, ...(v as unknown[])];
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
export function applySet(merged: Merged, file: string, assignment: string): void {
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
 * alternatives (as an override block's would), instead of the two disagreeing. Which options are alternatives
 * is the passes' knowledge, handed in with the recipe language.
 */
export function dropReplacedAlternatives(
  data: unknown,
  assignments: readonly string[],
  language: RecipeLanguage,
): void {
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
    for (const group of language.exclusiveOptions(name)) {
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

function errnoCodeOf(e: unknown): string | undefined {
  return e === undefined ? undefined : errnoCode(e);
}
