/**
 * Part of `npm run build`: compiles the schemas a command validates against (the recipe's, with every builtin
 * pass; the project configuration's) to ajv standalone code in dist/validators/, named by a hash of the schema
 * (src/recipe/precompiled.ts), so that commands load them instead of compiling them at each start.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';
import { recipeSchema } from '../src/language/index.js';
import { AJV_OPTIONS, validatorFile } from '../src/recipe/precompiled.js';
import { loadSchema } from '../src/recipe/validate.js';

const dir = join(import.meta.dirname, '..', 'validators');
// Validators of schemas that are gone are never loaded, but would pile up build after build.
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const schema of [recipeSchema(), loadSchema('config.schema.json')]) {
  const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true } });
  writeFileSync(join(dir, validatorFile(schema)), standalone.default(ajv, ajv.compile(schema)));
}
