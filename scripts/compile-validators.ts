/**
 * Part of `npm run build`: compiles the schemas a command validates against (the recipe's, with every builtin
 * pass; the project configuration's) to ajv standalone code in dist/validators/, named by a hash of the schema
 * (src/recipe/precompiled.ts), so that commands load them instead of compiling them at each start; and V8's code
 * cache of each, so that loading one compiles nothing either.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';
import { parse } from 'yaml';
import { recipeSchema } from '../src/language/index.js';
import { AJV_OPTIONS, codeCacheFile, loadValidator, validatorFile } from '../src/recipe/precompiled.js';
import { loadSchema } from '../src/recipe/validate.js';

const dir = join(import.meta.dirname, '..', 'validators');
// Validators of schemas that are gone are never loaded, but would pile up build after build.
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
// The shipped recipes, as data to run the validators on before V8's code cache of them is taken: the cache then
// holds the functions a recipe's validation calls, compiled.
const samples: unknown[] = readdirSync(join(import.meta.dirname, '..', '..', 'recipes'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => parse(readFileSync(join(import.meta.dirname, '..', '..', 'recipes', f), 'utf8')) as unknown);
for (const schema of [recipeSchema(), loadSchema('config.schema.json')]) {
  const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true } });
  const file = join(dir, validatorFile(schema));
  writeFileSync(file, standalone.default(ajv, ajv.compile(schema)));
  const { validate, script } = loadValidator(file);
  for (const sample of [...samples, {}]) validate(sample);
  writeFileSync(codeCacheFile(file), script.createCachedData());
}
