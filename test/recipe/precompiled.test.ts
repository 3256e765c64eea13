/**
 * The validators compiled at build time (src/recipe/precompiled.ts, written by scripts/compile-validators.ts
 * during `npm run build`, which `npm test` runs first) are the ones commands use, and judge exactly as a
 * validator compiled at run time does.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { recipeSchema } from '../../src/language/index.js';
import { readFileSync } from 'node:fs';
import {
  AJV_OPTIONS,
  codeCacheFile,
  loadValidator,
  precompiledValidator,
  validatorFile,
  validatorsDir,
} from '../../src/recipe/precompiled.js';
import { loadSchema } from '../../src/recipe/validate.js';

const { Ajv2020: Ajv } = createRequire(import.meta.url)('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 };

const RECIPES: unknown[] = [
  { version: 1, name: 'ok', model: { builtin: 'lenet5' }, data: { test: { dataset: 'mnist', split: 'test' } } },
  { version: 1, name: 'x', model: {}, data: {}, passes: [{ quantize: { bits: 3, dtype: 'int9' } }] },
  { version: 2, passes: 'quantize', thresholds: { fidelity: { minCosine: 2 } } },
  {},
];

describe('precompiled schema validators', () => {
  it('exist after the build for the recipe and the configuration schema', () => {
    expect(validatorsDir()).toBeDefined();
    expect(precompiledValidator(recipeSchema())).toBeTypeOf('function');
    expect(precompiledValidator(loadSchema('config.schema.json'))).toBeTypeOf('function');
  });

  it('report the same errors as a validator compiled now', () => {
    const pre = precompiledValidator(recipeSchema())!;
    const now = new Ajv(AJV_OPTIONS).compile(recipeSchema());
    for (const recipe of RECIPES) {
      expect(pre(recipe)).toBe(now(recipe));
      expect(JSON.stringify(pre.errors ?? null)).toBe(JSON.stringify(now.errors ?? null));
    }
    // The recipes above are not all valid: the comparison saw errors.
    expect(RECIPES.filter((r) => !now(r)).length).toBeGreaterThanOrEqual(3);
  });

  it("come with V8's code cache, which this Node accepts and which judges as the plain file does", () => {
    const file = `${validatorsDir()!}${validatorFile(recipeSchema())}`;
    const cached = loadValidator(file, readFileSync(codeCacheFile(file)));
    expect(cached.script.cachedDataRejected).toBe(false);
    const plain = createRequire(import.meta.url)(file) as typeof cached.validate;
    for (const recipe of RECIPES) {
      expect(cached.validate(recipe)).toBe(plain(recipe));
      expect(JSON.stringify(cached.validate.errors ?? null)).toBe(JSON.stringify(plain.errors ?? null));
    }
  });

  it('are not used for a schema that differs from the one they were compiled from', () => {
    const changed = { ...recipeSchema(), title: 'another recipe schema' };
    expect(precompiledValidator(changed)).toBeUndefined();
  });
});
