/**
 * Schema validators compiled when mcbuild is built (scripts/compile-validators.ts writes them as ajv standalone
 * code to dist/validators/), so that a command does not compile the recipe schema each time it starts: compiling
 * it took 0.3–0.7 s of every `mcbuild plan` and cached build, loading the compiled code a tenth of that. A
 * validator is found by a hash of the schema it was compiled from, so a schema that changed since the build
 * (a pass added in a test, a stale dist/) is compiled at run time as before.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type { ValidateFunction } from 'ajv/dist/2020.js';

/** Options of every schema validator, at build time and run time alike. */
export const AJV_OPTIONS = {
  // allErrors so one run shows every mistake; verbose so messages can quote the schema's allowed values.
  allErrors: true,
  verbose: true,
  strict: true,
  // A $ref compiles to one function shared by every place that uses it, not to a copy at each: inlined, the
  // recipe schema's pass options (referenced from entries, overrides and searches) made a 1 MB validator whose
  // loading and first call cost a cached `mcbuild plan` ~0.1 s; shared, it is 0.75 MB and a third of the time.
  inlineRefs: false,
} as const;

/** The file name of the validator of `schema`: a hash of its JSON text and of the options. */
export function validatorFile(schema: Readonly<Record<string, unknown>>): string {
  const hash = createHash('sha256').update(JSON.stringify(AJV_OPTIONS)).update(JSON.stringify(schema));
  return `${hash.digest('hex').slice(0, 32)}.cjs`;
}

/** dist/validators/, from src/recipe (tests) or dist/src/recipe (built) alike; undefined before a build. */
export function validatorsDir(): string | undefined {
  for (const rel of ['../../validators/', '../../dist/validators/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

const require = createRequire(import.meta.url);

/** The validator compiled at build time for exactly this schema, or undefined. */
export function precompiledValidator(schema: Readonly<Record<string, unknown>>): ValidateFunction | undefined {
  const dir = validatorsDir();
  if (!dir) return undefined;
  const file = `${dir}${validatorFile(schema)}`;
  if (!existsSync(file)) return undefined;
  const cache = codeCacheFile(file);
  if (!existsSync(cache)) return require(file) as ValidateFunction;
  return loadValidator(file, readFileSync(cache)).validate;
}

/**
 * Where the build keeps V8's code cache of a validator: the recipe's is 0.75 MB of JavaScript, and parsing it and
 * compiling its functions on their first call was most of what validating a recipe cost a cached build.
 */
export function codeCacheFile(validator: string): string {
  return `${validator}.v8`;
}

/**
 * Loads a validator's CommonJS file as require() would, through a vm.Script that can take (`cachedData`) and make
 * (`script.createCachedData()`) a V8 code cache. A cache V8 rejects (another Node version, other flags) is ignored.
 */
export function loadValidator(file: string, cachedData?: Buffer): { validate: ValidateFunction; script: Script } {
  const source = readFileSync(file, 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(module.exports, createRequire(file), module, file, dirname(file));
  return { validate: module.exports as ValidateFunction, script };
}
