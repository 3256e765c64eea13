/**
 * docs/architecture.md's layer table, drawn from LAYERS in .dependency-cruiser.cjs (the one drawing of the
 * order, which `npm run lint` enforces) and written between the page's `layers:start` / `layers:end` markers.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const START = '<!-- layers:start -->';
const END = '<!-- layers:end -->';

export function architecturePage(root: string): string {
  const require = createRequire(import.meta.url);
  const { LAYERS } = require(join(root, '.dependency-cruiser.cjs')) as { LAYERS: string[][] };
  const page = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const at = page.indexOf(START);
  const end = page.indexOf(END);
  if (at < 0 || end < at) throw new Error(`docs/architecture.md has lost its ${START} … ${END} markers`);
  const table = [
    '',
    'Top to bottom: a module may import its own layer and those below it (a larger number), never one above.',
    '',
    '| layer | folders and files of src/ |',
    '| --- | --- |',
    ...LAYERS.map((group, i) => `| ${i + 1} | ${group.map((m) => `\`${m}\``).join(', ')} |`),
    '',
  ].join('\n');
  return `${page.slice(0, at + START.length)}\n${table}\n${page.slice(end)}`;
}
