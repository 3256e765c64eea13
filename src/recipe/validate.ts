import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { McbError } from '../errors.js';
import { AJV_OPTIONS, precompiledValidator } from './precompiled.js';
import { formatDataPath, formatPosition, type DataPath, type RecipeSource } from './source.js';

/** Compiled validators by schema object: a process compiles each schema once. */
const compiled = new WeakMap<object, ValidateFunction>();

/** A published schema's path; resolved from src/ (tests) or dist/src/ (built) alike. */
export function schemaPath(name: string): string {
  for (const rel of [`../../schema/${name}`, `../../../schema/${name}`]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`mcbuild: schema/${name} is missing from the installation`);
}

/** A published schema, parsed (the recipe's by default). */
export function loadSchema(name = 'recipe.schema.json'): Record<string, unknown> {
  return JSON.parse(readFileSync(schemaPath(name), 'utf8')) as Record<string, unknown>;
}

const require = createRequire(import.meta.url);

/** Compiles `schema` now; ajv's compiler is loaded only then (a precompiled validator needs ajv's runtime only). */
function compile(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  const ajv = require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };
  return new ajv.Ajv2020(AJV_OPTIONS).compile(schema);
}

/** The validator of `schema`: the one compiled at build time (./precompiled.ts), else compiled now. */
export function validator(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = precompiledValidator(schema) ?? compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** Validates parsed recipe data against the recipe schema; throws one McbError listing every problem with its position. */
export function validateRecipeData(
  data: unknown,
  source: RecipeSource,
  schema: Readonly<Record<string, unknown>>,
): void {
  const validate = validator(schema);
  if (validate(data)) return;
  const messages = describeErrors(validate.errors ?? [], source);
  throw new McbError(
    'MCB_RECIPE_INVALID',
    messages.length === 1
      ? messages[0]!
      : `${formatPosition(source.positionOf([])).replace(/:1:1$/, '')} has ${messages.length} problems:\n${messages.map((m) => `  - ${m}`).join('\n')}`,
  );
}

function pathOf(e: ErrorObject): (string | number)[] {
  if (e.instancePath === '') return [];
  return e.instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** One message per schema error, at its place; `document` names the top level ("the recipe", "the configuration"). */
export function describeErrors(errors: ErrorObject[], source: RecipeSource, document = 'the recipe'): string[] {
  // A bad byte size fails both branches of its oneOf; report it once, in words.
  const byteSizePaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  // `skip` or a map of options (override blocks): a map is judged by its options' errors alone; anything
  // else gets one message instead of one per branch.
  const orConst = new Map<string, ErrorObject>();
  // An option that may also be `auto` (a search): the value's own error says it all.
  const orAuto = new Set<string>();
  for (const e of errors) {
    const branches = (e.parentSchema as { anyOf?: { const?: unknown }[] } | undefined)?.anyOf;
    if (e.keyword !== 'anyOf' || !branches) continue;
    if (branches.some((b) => b.const === 'auto')) orAuto.add(e.instancePath);
    else if (branches.some((b) => b.const !== undefined)) orConst.set(e.instancePath, e);
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of errors) {
    if (orAuto.has(e.instancePath) && (e.keyword === 'anyOf' || e.keyword === 'const')) continue;
    const either = orConst.get(e.instancePath);
    if (either) {
      const isMap = typeof either.data === 'object' && either.data !== null && !Array.isArray(either.data);
      if (isMap && (e.keyword === 'const' || e.keyword === 'anyOf')) continue;
      if (!isMap) {
        if (e !== either) continue;
        const path = pathOf(e);
        const word = (e.parentSchema as { anyOf: { const?: unknown }[] }).anyOf.find((b) => b.const !== undefined)!
          .const as string;
        const m = `\`${formatDataPath(path)}\` must be \`${word}\` or a map of ${String(path[path.length - 1])} options (got ${JSON.stringify(e.data)})${typeof e.data === 'string' ? suggest(e.data, [word]) : ''} at ${formatPosition(source.positionOf(path))}`;
        if (!seen.has(m)) {
          seen.add(m);
          out.push(m);
        }
        continue;
      }
    }
    if (byteSizePaths.has(e.instancePath) && e.keyword !== 'oneOf') continue;
    // propertyNames reports the bad name twice (once as propertyNames, once as the inner enum).
    if (e.keyword === 'enum' && e.propertyName !== undefined) continue;
    // An if/then (per-architecture options) also reports "must match then": the inner error says it all.
    if (e.keyword === 'if') continue;
    // `model`'s anyOf/not (exactly one of path and train) add nothing beside an unknown key at the same place.
    if (
      (e.keyword === 'anyOf' || e.keyword === 'not') &&
      errors.some(
        (o) =>
          o !== e &&
          o.instancePath === e.instancePath &&
          o.keyword !== 'anyOf' &&
          o.keyword !== 'not' &&
          o.keyword !== 'required',
      )
    )
      continue;
    const m = describe(e, pathOf(e), source, document);
    if (!seen.has(m)) {
      seen.add(m);
      out.push(m);
    }
  }
  return out;
}

function describe(e: ErrorObject, path: DataPath, source: RecipeSource, document: string): string {
  const where = (p: DataPath, key = false) => `at ${formatPosition(source.positionOf(p, { key }))}`;
  const name = `\`${formatDataPath(path)}\``;
  const params = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const got = (v: unknown) => (v === undefined ? '' : ` (got ${JSON.stringify(v)})`);
  switch (e.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return `\`${formatDataPath([...path, missing])}\` is required ${where(path)}; add it to ${path.length ? name : 'the top level'}`;
    }
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((parent.properties as Record<string, unknown>) ?? {});
      return `${path.length ? name : document} has an unknown key \`${key}\` ${where([...path, key], true)}${suggest(key, allowed)}; allowed keys: ${allowed.join(', ')}`;
    }
    case 'propertyNames': {
      const key = String(params.propertyName);
      const allowed = ((parent.propertyNames as { enum?: string[] }) ?? {}).enum ?? [];
      return `${name} names an unknown pass \`${key}\` ${where([...path, key], true)}${suggest(key, allowed)}; known passes: ${allowed.join(', ')}`;
    }
    case 'enum':
      return `${name} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got(e.data)} ${where(path)}`;
    case 'const':
      return `${name} must be ${JSON.stringify(params.allowedValue)}${got(e.data)} ${where(path)}`;
    case 'type':
      return `${name} must be ${article(String(params.type))}${got(e.data)} ${where(path)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${name} must be ${String(params.comparison)} ${String(params.limit)}${got(e.data)} ${where(path)}`;
    case 'minProperties':
    case 'maxProperties': {
      const allowed = Object.keys((parent.properties as Record<string, unknown>) ?? {});
      if (parent.maxProperties === 1 && parent.minProperties === 1) {
        return path[0] === 'passes'
          ? `${name} must be a map with exactly one pass name, such as \`- quantize: { dtype: float16 }\` ${where(path)}`
          : `${name} must have exactly one of: ${allowed.join(', ')} ${where(path)}`;
      }
      return `${name} must set at least one of: ${allowed.join(', ')} ${where(path)}`;
    }
    case 'not':
      // A value the schema refuses on purpose (an option an override block cannot set): its description says why.
      return typeof parent.description === 'string'
        ? `${name} at ${formatPosition(source.positionOf(path, { key: true }))}: ${parent.description}`
        : `${name} is not allowed here ${where(path)}`;
    case 'oneOf':
      return `${name} must be a size in bytes, such as 300000, "300kB", "1.5MB" or "2MiB"${got(e.data)} ${where(path)}`;
    case 'pattern':
      return `${name} must match ${String(params.pattern)}${got(e.data)} ${where(path)}`;
    default:
      return `${name} ${e.message ?? 'is invalid'}${got(e.data)} ${where(path)}`;
  }
}

function article(type: string): string {
  return type === 'integer' || type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`;
}

/** "; did you mean `train`?" when a known name is within edit distance 2. */
export function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best === undefined ? '' : ` (did you mean \`${best}\`?)`;
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
