import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { McbError } from '../errors.js';

/**
 * The project root holds the default cache/ and out/ folders: the nearest folder above the recipe with a
 * package.json or .git, else the recipe's own folder. This keeps one cache per project wherever the
 * command is typed from.
 */
export function findProjectRoot(recipeFile: string): string {
  const start = dirname(resolve(recipeFile));
  for (let dir = start; ;) {
    if (existsSync(join(dir, 'package.json')) || existsSync(join(dir, '.git'))) return dir;
    const up = dirname(dir);
    if (up === dir) return start;
    dir = up;
  }
}

/**
 * True when `path` lies strictly inside `root`, judged on the resolved path names (checkInsideProject also
 * follows the symbolic links on the way).
 */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  // `..foo` is a folder inside; only `..` itself or `../…` climbs out.
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** The path with every symbolic link of its existing part resolved (the part not created yet kept as written). */
function realPath(path: string): string {
  const full = resolve(path);
  for (let dir = full, rest = ''; ;) {
    try {
      return join(realpathSync(dir), rest);
    } catch {
      const up = dirname(dir);
      if (up === dir) return full;
      rest = join(basename(dir), rest);
      dir = up;
    }
  }
}

/**
 * mcbuild writes only inside the project (a recipe copied from elsewhere must not be able to write to
 * /etc or ~/.ssh); `--allow-outside` lifts this. `what` names the setting and where it was written.
 */
export function checkInsideProject(path: string, root: string, what: string, allowOutside: boolean | undefined): void {
  if (allowOutside) return;
  if (isInside(root, path)) {
    // The names stay inside, but a symbolic link on the way (one a cloned repository can carry) may lead out.
    const real = realPath(path);
    if (isInside(realPath(root), real)) return;
    throw new McbError(
      'MCB_OUTPUT',
      `${what} leads outside the project root through a symbolic link: ${resolve(path)} is really ${real}, and the project root is ${root}. mcbuild writes only below the project root; name a folder inside it, or pass --allow-outside if you mean it.`,
    );
  }
  const where = resolve(path) === resolve(root) ? 'is the project root itself' : 'is outside the project root';
  throw new McbError(
    'MCB_OUTPUT',
    `${what} ${where}: it resolves to ${resolve(path)}, and the project root is ${root} (the nearest folder above the recipe with a package.json or .git, else the recipe's folder). mcbuild writes only below the project root; name a folder inside it, or pass --allow-outside if you mean it.`,
  );
}
