/**
 * `npm run generate`: writes the files derived from the definitions (passes, dataset kinds, metrics, report
 * shape, layers): schema/recipe.schema.json, schema/report.schema.json, docs/passes.md, docs/recipe-reference.md
 * the layer table of docs/architecture.md, and the assembled wasm SIMD kernels (scripts/simd.ts).
 * test/generated.test.ts fails when a checked-in copy differs from what this would write.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generated.js';

const root = join(import.meta.dirname, '..', '..');
for (const [file, text] of await generatedFiles(root)) {
  writeFileSync(join(root, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
