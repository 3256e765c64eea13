/**
 * Writing one small file (a report, a searched recipe, sweep.json) so that a reader or a crash never sees half
 * of it: a temporary file beside it, then a rename; the folder is created if missing, the temporary file is
 * removed on failure, and a failure is an McbError (exit 2) naming the file and the fix.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errnoCode, McbError } from '../errors.js';

export async function writeTextAtomic(file: string, text: string, what: string): Promise<void> {
  const target = resolve(file);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(tmp, text);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = errnoCode(e);
    const why =
      code === 'EISDIR'
        ? 'it is a folder'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? 'permission denied'
          : (code ?? (e instanceof Error ? e.message : String(e)));
    throw new McbError(
      'MCB_OUTPUT',
      `cannot write the ${what} to ${file}: ${why}. Choose a path in a writable folder (the folder is created if missing), or check its permissions.`,
      { cause: e },
    );
  }
}
