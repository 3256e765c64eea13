/**
 * Writing the output folder. It is replaced as a whole: files go to a sibling temporary folder that is
 * renamed into place, so a reader (or a crash) never sees half a model. A folder mcbuild did not write
 * is never overwritten.
 */
import { access, constants, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { pidAlive } from '../cache/leases.js';

export const REPORT_FILE = 'report.json';

/** Checks, before any work is done, that the output can be written; a build must not fail at its very end. */
export async function preflightOutput(dir: string): Promise<void> {
  let parent = dirname(dir);
  // The nearest existing ancestor must be a writable folder (mkdir -p creates the rest).
  for (;;) {
    try {
      const s = await stat(parent);
      if (!s.isDirectory())
        throw new McbError(
          'MCB_OUTPUT',
          `cannot write the output to ${dir}: ${parent} is a file, not a folder. Change \`output\` in the recipe or pass --out.`,
        );
      break;
    } catch (e) {
      if (e instanceof McbError) throw e;
      if (errnoCode(e) !== 'ENOENT') throw unwritable(dir, e);
      const up = dirname(parent);
      if (up === parent) break;
      parent = up;
    }
  }
  try {
    await access(parent, constants.W_OK);
  } catch (e) {
    throw unwritable(dir, e);
  }
  try {
    const s = await stat(dir);
    if (!s.isDirectory())
      throw new McbError(
        'MCB_OUTPUT',
        `the output path ${dir} is a file; mcbuild writes a folder there. Remove the file, or change \`output\` in the recipe or pass --out.`,
      );
    const entries = await readdir(dir);
    if (entries.length > 0 && !(await isOurOutput(dir))) {
      throw new McbError(
        'MCB_OUTPUT',
        `the output folder ${dir} already holds files that mcbuild did not write (no ${REPORT_FILE} from mcbuild); it will not overwrite them. Choose another \`output\` (or --out), or empty that folder.`,
      );
    }
  } catch (e) {
    if (e instanceof McbError) throw e;
    if (errnoCode(e) !== 'ENOENT') throw unwritable(dir, e);
  }
}

async function isOurOutput(dir: string): Promise<boolean> {
  try {
    const report = JSON.parse(await readFile(join(dir, REPORT_FILE), 'utf8')) as { generator?: string };
    return report.generator === 'mcbuild';
  } catch {
    return false;
  }
}

export async function writeOutput(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  await preflightOutput(dir);
  await removeDeadLeftovers(dir);
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.mcbuild-new-${tag}`);
  const old = join(dirname(dir), `.${basename(dir)}.mcbuild-old-${tag}`);
  try {
    await mkdir(tmp, { recursive: true });
    for (const [name, data] of files) await writeFile(join(tmp, name), data);
    let hadOld = false;
    try {
      await rename(dir, old);
      hadOld = true;
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
    }
    try {
      await rename(tmp, dir);
    } catch (e) {
      if (hadOld) await rename(old, dir).catch(() => {}); // put the previous output back
      throw e;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof McbError) throw e;
    throw unwritable(dir, e);
  }
}

/**
 * A build killed while writing its output leaves its sibling temporary folder (`-new-`, or the previous output
 * moved aside as `-old-`) named after its pid. Nothing reads them; remove those whose writer is gone, and
 * leave a live concurrent writer's alone.
 */
async function removeDeadLeftovers(dir: string): Promise<void> {
  const prefix = `.${basename(dir)}.mcbuild-`;
  let names: string[];
  try {
    names = await readdir(dirname(dir));
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix) ? /^(?:new|old)-(\d+)-[0-9a-z]+$/.exec(name.slice(prefix.length)) : null;
    if (m && !pidAlive(Number(m[1])))
      await rm(join(dirname(dir), name), { recursive: true, force: true }).catch(() => {});
  }
}

function unwritable(dir: string, e: unknown): McbError {
  return new McbError(
    'MCB_OUTPUT',
    `cannot write the output folder ${dir} (${errnoCode(e) ?? String(e)}). Make its parent folder writable, or change \`output\` in the recipe or pass --out.`,
  );
}
