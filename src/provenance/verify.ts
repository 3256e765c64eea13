/**
 * `mcbuild verify`: an output folder against its manifest (every file present, unchanged, nothing added), the
 * provenance digest stamped in model.json against provenance.json, and, given a public key, the signature.
 * Problems are returned, not thrown: the CLI prints each and exits 1. Only a folder that cannot be judged at
 * all (missing, or without a readable manifest) is an McbError (exit 2).
 */
import type { KeyObject } from 'node:crypto';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { MODEL_JSON } from '../model/index.js';
import { sha256Hex } from '../util/hash.js';
import { MANIFEST_FILE, signatureHolds, SIGNATURE_FILE, UNATTESTED, type Manifest } from './manifest.js';
import { digestOf, PROVENANCE_FILE, stampOf } from './provenance.js';

export interface VerifyProblem {
  file: string;
  kind: 'missing' | 'changed' | 'extra' | 'provenance' | 'signature';
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Files of the manifest found unchanged. */
  verified: number;
  problems: VerifyProblem[];
  /** valid / invalid / missing with a key; present or absent without one. */
  signature: 'valid' | 'invalid' | 'missing' | 'present, not checked' | 'absent';
  unattested: string[];
}

export async function verifyOutput(dir: string, pub?: KeyObject): Promise<VerifyResult> {
  try {
    if (!(await stat(dir)).isDirectory())
      throw new McbError(
        'MCB_USAGE',
        `${dir} is a file; \`mcbuild verify\` takes the output folder a build wrote (the recipe's \`output\`, or --out).`,
      );
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_USAGE',
      `${dir} ${errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Pass the output folder a build wrote (the recipe's \`output\`, or --out).`,
    );
  }
  const manifestFile = join(dir, MANIFEST_FILE);
  let manifestRaw: Buffer;
  try {
    const info = await lstat(manifestFile);
    if (!info.isFile())
      throw new McbError(
        'MCB_USAGE',
        `${manifestFile} ${notRegular(info)}: the output folder was tampered with. Build the recipe again to rewrite it.`,
      );
    manifestRaw = await readFile(manifestFile);
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_USAGE',
      `${dir} holds no readable ${MANIFEST_FILE} (${errnoCode(e) ?? String(e)}): it is not the output folder of an mcbuild build, or was built before mcbuild wrote manifests, or the manifest was removed. Build the recipe again to write one.`,
    );
  }
  const manifest = parseManifest(manifestRaw, manifestFile);
  const problems: VerifyProblem[] = [];
  let verified = 0;
  const listed = new Set<string>();
  /** Listed names that are not regular files: never read. */
  const unsafe = new Set<string>();
  for (const entry of manifest.files) {
    if (listed.has(entry.name)) {
      problems.push({
        file: entry.name,
        kind: 'changed',
        message: `listed twice in ${MANIFEST_FILE} (a build lists each file once; the manifest was edited)`,
      });
      continue;
    }
    listed.add(entry.name);
    let bytes: Buffer;
    try {
      // lstat first: a build writes only regular files, and reading a FIFO, a device or a link to one would
      // hang verify or exhaust its memory; a size that already differs needs no reading at all.
      const info = await lstat(join(dir, entry.name));
      if (!info.isFile()) {
        unsafe.add(entry.name);
        problems.push({ file: entry.name, kind: 'changed', message: notRegular(info) });
        continue;
      }
      if (info.size !== entry.size) {
        problems.push({
          file: entry.name,
          kind: 'changed',
          message: `changed: ${info.size} bytes, the manifest says ${entry.size} bytes`,
        });
        continue;
      }
      bytes = await readFile(join(dir, entry.name));
    } catch (e) {
      problems.push({
        file: entry.name,
        kind: 'missing',
        message:
          errnoCode(e) === 'ENOENT'
            ? 'listed in the manifest but missing'
            : `cannot be read (${errnoCode(e) ?? String(e)})`,
      });
      continue;
    }
    const hash = sha256Hex(bytes);
    if (hash !== entry.sha256 || bytes.byteLength !== entry.size) {
      problems.push({
        file: entry.name,
        kind: 'changed',
        message: `changed: sha256 ${hash.slice(0, 12)}… (${bytes.byteLength} bytes), the manifest says ${entry.sha256.slice(0, 12)}… (${entry.size} bytes)`,
      });
    } else verified++;
  }
  // Only the known machine-dependent files may go unhashed, whatever an edited manifest claims.
  const unattested = manifest.unattested.filter((n) => UNATTESTED.includes(n));
  for (const { name, kind } of await listFiles(dir)) {
    if (listed.has(name)) continue;
    if (name === MANIFEST_FILE || name === SIGNATURE_FILE || unattested.includes(name)) {
      // Not hashed, but still the build's own regular files: a link here would send readers (mcbuild report, a browser) elsewhere.
      if (kind !== 'file') problems.push({ file: name, kind: 'changed', message: notRegular(kind) });
      continue;
    }
    problems.push({ file: name, kind: 'extra', message: 'not in the manifest (added after the build)' });
  }
  // Every build writes both; a manifest without them cannot vouch for the stamp.
  for (const f of [MODEL_JSON, PROVENANCE_FILE])
    if (!listed.has(f))
      problems.push({
        file: f,
        kind: 'provenance',
        message: `not listed in ${MANIFEST_FILE} (every build attests ${MODEL_JSON} and ${PROVENANCE_FILE}); the manifest was edited`,
      });
  // The stamp ties the model to its record even when the model is copied away from the folder.
  if (
    listed.has(MODEL_JSON) &&
    listed.has(PROVENANCE_FILE) &&
    !unsafe.has(MODEL_JSON) &&
    !unsafe.has(PROVENANCE_FILE)
  ) {
    try {
      const stamp = stampOf(JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')));
      const actual = digestOf(await readFile(join(dir, PROVENANCE_FILE)));
      if (stamp !== actual)
        problems.push({
          file: MODEL_JSON,
          kind: 'provenance',
          message:
            stamp === undefined
              ? `carries no provenance digest (userDefinedMetadata.mcbuild.provenance)`
              : `names provenance ${stamp.slice(0, 19)}…, but ${PROVENANCE_FILE} is ${actual.slice(0, 19)}…`,
        });
    } catch {
      // A missing or unparsable file is already reported above as missing or changed.
    }
  }
  let signature: VerifyResult['signature'];
  const sig = await readFile(join(dir, SIGNATURE_FILE), 'utf8').catch(() => undefined);
  if (!pub) signature = sig === undefined ? 'absent' : 'present, not checked';
  else if (sig === undefined) {
    signature = 'missing';
    problems.push({
      file: SIGNATURE_FILE,
      kind: 'signature',
      message: 'missing: the output is not signed (build with --sign-key or MCBUILD_SIGN_KEY)',
    });
  } else if (signatureHolds(manifestRaw, sig, pub)) signature = 'valid';
  else {
    signature = 'invalid';
    problems.push({
      file: SIGNATURE_FILE,
      kind: 'signature',
      message: `does not verify with this public key: signed by another key, or ${MANIFEST_FILE} was changed`,
    });
  }
  return { ok: problems.length === 0, verified, problems, signature, unattested };
}

function parseManifest(raw: Buffer, file: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new McbError(
      'MCB_USAGE',
      `${file} is not valid JSON (${e instanceof Error ? e.message : String(e)}); it was damaged or edited. Build the recipe again to rewrite the output folder.`,
    );
  }
  const m = data as Partial<Manifest> | null;
  const ok =
    typeof m === 'object' &&
    m !== null &&
    m.generator === 'mcbuild' &&
    Array.isArray(m.files) &&
    Array.isArray(m.unattested) &&
    m.files.every(
      (f) =>
        typeof f?.name === 'string' && plainName(f.name) && typeof f.sha256 === 'string' && typeof f.size === 'number',
    ) &&
    m.unattested.every((n) => typeof n === 'string');
  if (!ok)
    throw new McbError(
      'MCB_USAGE',
      `${file} is not an mcbuild manifest (it needs \`"generator": "mcbuild"\`, \`files\` with name, sha256 and size, and \`unattested\`). Build the recipe again to rewrite the output folder.`,
    );
  return m as Manifest;
}

/** A file name inside the folder: the manifest must not send verify reading elsewhere. */
const plainName = (name: string) => /^[^/\\]+$/.test(name) && name !== '.' && name !== '..';

type EntryKind = 'file' | 'symbolic link' | 'directory' | 'special file';

function kindOf(e: { isFile(): boolean; isSymbolicLink(): boolean; isDirectory(): boolean }): EntryKind {
  return e.isFile() ? 'file' : e.isSymbolicLink() ? 'symbolic link' : e.isDirectory() ? 'directory' : 'special file';
}

function notRegular(e: EntryKind | { isFile(): boolean; isSymbolicLink(): boolean; isDirectory(): boolean }): string {
  return `is a ${typeof e === 'string' ? e : kindOf(e)}, not a regular file (a build writes only regular files; it was replaced after the build)`;
}

/** Every entry below dir (links not followed), as forward-slash paths relative to it (an output folder is flat; anything nested is extra). */
async function listFiles(dir: string, root = dir): Promise<{ name: string; kind: EntryKind }[]> {
  const out: { name: string; kind: EntryKind }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, root)));
    else out.push({ name: relative(root, p).split(sep).join('/'), kind: kindOf(e) });
  }
  return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}
