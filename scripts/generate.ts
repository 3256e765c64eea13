/**
 * `npm run generate`: writes the files derived from the definitions (passes, dataset kinds, metrics, report
 * shape, layers): schema/recipe.schema.json, schema/report.schema.json, docs/passes.md, docs/recipe-reference.md
 * and the layer table of docs/architecture.md.
 * test/generated.test.ts fails when a checked-in copy differs from what this would write.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generated.js';

const root = join(import.meta.dirname, '..', '..');
for (const [file, text] of generatedFiles(root)) {
  writeFileSync(join(root, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
