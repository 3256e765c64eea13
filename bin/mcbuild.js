#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, which `npm ci` runs through `prepare`): the
// bundle in dist/bundle/ (scripts/bundle.ts: a few chunks load faster than ~300 modules), else dist/src/.
// MCBUILD_UNBUNDLED=1 runs dist/src/ (one file per source module, for debugging and the start-up test);
// `node --enable-source-maps` maps the bundle's stack frames back (not on by default: TF.js's maps cost 0.4 s).
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const modules = new URL('../dist/src/cli/main.js', import.meta.url);
const entry = existsSync(bundled) && process.env.MCBUILD_UNBUNDLED !== '1' ? bundled : modules;
if (!existsSync(entry)) {
  process.stderr.write('mcbuild: dist/ is missing; run `npm run build` (or `npm ci`, which builds it) first.\n');
  process.exit(2);
}
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-v')) {
  // As main() answers it, without loading the CLI: a version check should cost no more than starting Node.
  const { MCBUILD_VERSION } = await import(new URL('../dist/src/version.js', import.meta.url).href);
  process.stdout.write(`${MCBUILD_VERSION}\n`);
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(args);
}
