/**
 * The files derived from the definitions, by path from the project root: what `npm run generate` writes and
 * test/generated.test.ts compares with the checked-in copies.
 */
import { recipeSchema } from '../src/language/index.js';
import { renderPassesDoc, renderRecipeReference } from '../src/language/reference.js';
import { allPasses } from '../src/passes/index.js';
import { buildReportSchema } from '../src/report/schema/index.js';
import { architecturePage } from './layers.js';
import { SIMD_MODULE, simdModule } from './simd.js';

/** `root`: the project root, where the layer table's source and page are read. */
export async function generatedFiles(root: string): Promise<Map<string, string>> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  const schema = recipeSchema();
  return new Map([
    ['schema/recipe.schema.json', json(schema)],
    ['schema/report.schema.json', json(buildReportSchema(allPasses()))],
    ['docs/passes.md', renderPassesDoc(allPasses())],
    ['docs/recipe-reference.md', renderRecipeReference(schema)],
    ['docs/architecture.md', architecturePage(root)],
    [SIMD_MODULE, await simdModule(root)],
  ]);
}
