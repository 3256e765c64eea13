import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** mcbuild's own version: part of every step key, so a new release never trusts an old cache blindly. */
export const MCBUILD_VERSION: string = (JSON.parse(readFileSync(findPackageJson(), 'utf8')) as { version: string })
  .version;

function findPackageJson(): string {
  // src/version.ts runs from src/ under vitest and from dist/src/ when built: look upward for ours.
  let dir = new URL('.', import.meta.url).pathname;
  for (let i = 0; i < 4; i++) {
    try {
      const p = `${dir}package.json`;
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string };
      if (pkg.name === 'mcbuild') return p;
    } catch {
      /* not here; keep looking */
    }
    dir = new URL('..', `file://${dir}`).pathname;
  }
  throw new Error('mcbuild: cannot find its own package.json');
}

/** Version of an installed package, or undefined when it is not installed. Reads no module code. */
export function packageVersion(name: string): string | undefined {
  try {
    const pkgPath = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}
