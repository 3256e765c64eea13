/**
 * `npm run generate`: writes the files derived from the definitions (passes, dataset kinds, metrics, report
 * shape): schema/recipe.schema.json, schema/report.schema.json, docs/passes.md and docs/recipe-reference.md.
 * test/generated.test.ts fails when a checked-in copy differs from what this would write.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generated.js';

const root = join(import.meta.dirname, '..', '..');
for (const [file, text] of generatedFiles()) {
  writeFileSync(join(root, file), text);
  process.stdout.write(`wrote ${file}\n`);
}
