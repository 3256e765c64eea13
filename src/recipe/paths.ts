import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The project root holds the default cache/ and out/ folders: the nearest folder above the recipe with a
 * package.json or .git, else the recipe's own folder. This keeps one cache per project wherever the
 * command is typed from.
 */
export function findProjectRoot(recipeFile: string): string {
  const start = dirname(resolve(recipeFile));
  for (let dir = start; ; ) {
    if (existsSync(join(dir, 'package.json')) || existsSync(join(dir, '.git'))) return dir;
    const up = dirname(dir);
    if (up === dir) return start;
    dir = up;
  }
}
