import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { McbError } from '../errors.js';

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

/**
 * True when `path` lies strictly inside `root`. Judged on the resolved path names: a symlink inside the
 * project pointing elsewhere is the project owner's own doing, not something a recipe can smuggle in.
 */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  // `..foo` is a folder inside; only `..` itself or `../…` climbs out.
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * mcbuild writes only inside the project (a recipe copied from elsewhere must not be able to write to
 * /etc or ~/.ssh); `--allow-outside` lifts this. `what` names the setting and where it was written.
 */
export function checkInsideProject(path: string, root: string, what: string, allowOutside: boolean | undefined): void {
  if (allowOutside || isInside(root, path)) return;
  const where = resolve(path) === resolve(root) ? 'is the project root itself' : 'is outside the project root';
  throw new McbError(
    'MCB_OUTPUT',
    `${what} ${where}: it resolves to ${resolve(path)}, and the project root is ${root} (the nearest folder above the recipe with a package.json or .git, else the recipe's folder). mcbuild writes only below the project root; name a folder inside it, or pass --allow-outside if you mean it.`,
  );
}
