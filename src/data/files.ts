/**
 * What the file-based loaders (images, npy, npz) share: reading a data file with errors a user can act on,
 * the content digest that goes into step keys, the input normalisation, and the label arrays.
 */
import { createHash, type Hash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errnoCode, McbError } from '../errors.js';
import type { Normalisation } from '../recipe/index.js';
import type { Labels } from './types.js';

/** Reads a whole data file; a missing or unreadable one is the user's to fix, so it is an McbError naming it. */
export async function readDataFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = errnoCode(e);
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : `cannot be read (${code ?? String(e)})`;
    throw new McbError(
      'MCB_DATASET',
      `${what} ${path} ${why}. Check the path; it is relative to the recipe file that sets it.`,
      { cause: e },
    );
  }
}

/**
 * A content digest over named byte strings, in the order given: each name and length are hashed before the
 * bytes, so moving bytes from one file to the next, or renaming a file, changes the digest.
 */
export class ContentDigest {
  private readonly hash: Hash = createHash('sha256');

  add(name: string, bytes: Uint8Array): this {
    this.hash.update(`${name}\u0000${bytes.byteLength}\u0000`);
    this.hash.update(bytes);
    return this;
  }

  text(name: string, text: string): this {
    return this.add(name, Buffer.from(text, 'utf8'));
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/**
 * x = (raw·scale + offset − mean[c]) / std[c] with c = index % channels (the last axis), as two per-channel
 * coefficients: x = raw·a[c] + b[c]. `where` names the recipe entry for the error about mismatched lengths.
 */
export function normaliser(spec: Normalisation, channels: number, where: string): { a: Float64Array; b: Float64Array } {
  const perChannel = (key: 'mean' | 'std', fallback: number): Float64Array => {
    const v = spec[key];
    if (v === undefined) return new Float64Array(channels).fill(fallback);
    if (v.length !== 1 && v.length !== channels) {
      throw new McbError(
        'MCB_DATASET',
        `${where}: \`${key}\` has ${v.length} values, but the inputs have ${channels} channel${channels === 1 ? '' : 's'} (the last axis); give one value per channel, or one for all.`,
      );
    }
    return Float64Array.from({ length: channels }, (_, c) => v[v.length === 1 ? 0 : c]!);
  };
  const mean = perChannel('mean', 0);
  const std = perChannel('std', 1);
  const a = new Float64Array(channels);
  const b = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    a[c] = spec.scale / std[c]!;
    b[c] = (spec.offset - mean[c]!) / std[c]!;
  }
  return { a, b };
}

/** The narrowest unsigned array that holds class indices below `classes`. */
export function labelArray(count: number, classes: number): Labels {
  return classes <= 256 ? new Uint8Array(count) : classes <= 65536 ? new Uint16Array(count) : new Uint32Array(count);
}

/** "digits/test" for messages: the last two parts of a path. */
export function shortPath(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
}
