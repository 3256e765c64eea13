/**
 * The schemas and reference pages derived from the definitions are checked in (editors and users read them
 * without running mcbuild), and so are the assembled wasm SIMD kernels (a fresh clone needs no assembler to
 * build). They must be exactly what `npm run generate` writes now.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../scripts/generated.js';
import { ROOT } from './helpers.js';

describe('generated files', async () => {
  for (const [file, text] of await generatedFiles(ROOT)) {
    it(`${file} is what \`npm run generate\` writes`, () => {
      const checkedIn = readFileSync(join(ROOT, file), 'utf8');
      expect(checkedIn === text, `${file} is stale: run \`npm run generate\` and commit the result`).toBe(true);
    });
  }

  it('the published recipe schema is the one the loader validates against', async () => {
    const { recipeLanguage } = await import('../src/language/index.js');
    const published = JSON.parse(readFileSync(join(ROOT, 'schema', 'recipe.schema.json'), 'utf8')) as unknown;
    expect(JSON.parse(JSON.stringify(recipeLanguage().schema))).toEqual(published);
  });
});
