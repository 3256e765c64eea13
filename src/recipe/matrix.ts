/**
 * `matrix` sweeps: the combinations of a matrix, `${{ matrix.x }}` substitution, and the names and output
 * folders of the variants.
 */
import { join } from 'node:path';
import { McbError } from '../errors.js';
import { formatPosition, type RecipeSource } from './source.js';
import type { Variant } from './types.js';
import { suggest } from './validate.js';
import { isPlainObject } from './yaml.js';

/** A sweep this large belongs on a cluster (issue 10), not in one recipe run. */
export const MAX_VARIANTS = 256;
const PLACEHOLDER = /\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

/** `--variant "bits=8,sparsity=0.5"`, in any order of its pairs. */
export function pickVariant(combos: Record<string, unknown>[], wanted: string, file: string): Record<string, unknown> {
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
export function checkMatrixUse(data: unknown, matrix: Record<string, unknown[]>, source: RecipeSource): void {
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

/** `matrix: { bits: [8, 4] }`: checked here, before substitution, because the schema sees substituted recipes. */
export function readMatrix(raw: unknown, source: RecipeSource): Record<string, unknown[]> | undefined {
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

export function cartesian(matrix: Record<string, unknown[]>): Record<string, unknown>[] {
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
export function substitute(
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

export function findPlaceholder(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
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

/** Each variant of a matrix writes its own folder under the recipe's output: out/sweep/bits-8_sparsity-0.5. */
export function variantOutput(output: string, variant?: Variant): string {
  return variant ? join(output, variantFolder(variant)) : output;
}

/** A variant's folder name: bits-8_sparsity-0.5. */
export function variantFolder(variant: Variant): string {
  return Object.entries(variant.values)
    .map(([k, v]) => `${k}-${String(v)}`)
    .join('_')
    .replace(/[^A-Za-z0-9._-]/g, '_');
}
