/**
 * Decoded slices kept on disk, so a rebuild never decodes an image again: the slice a step read (decoded,
 * preprocessed and normalised, as float32) is stored in the step cache under a key of its own, made of
 * what identifies its content — the data's fingerprint as the step keys have it (content digest, every
 * preprocess setting, the loader's and decoders' versions) and mcbuild's version. A slice of 8-bit values
 * (images: decoded pixels are whole numbers, and preprocessing rounds to them) is stored as those bytes and
 * the normalisation's coefficients, a quarter of float32, and rebuilt with the loader's very arithmetic, so
 * a cached slice is bit-identical to a decoded one. The step cache writes
 * atomically and verifies every read; an entry that is damaged, or does not hold what its metadata says, is a
 * miss (the slice is decoded again and stored anew), never an error.
 */
import { endianness } from 'node:os';
import type { CacheEntry } from '../cache/index.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';
import type { DataSpec } from '../recipe/index.js';
import { normaliser } from './files.js';
import type { Dataset, Labels } from './types.js';

/** Where slices are kept: the step cache (src/cache/store.ts) is one. */
export interface SliceStore {
  read(key: string): Promise<CacheEntry | undefined>;
  write(key: string, entry: CacheEntry): Promise<void>;
}

/**
 * Whether a slice is kept: decoded images, and arrays through image settings (resized per sample). Plain
 * arrays are read and scaled faster than a cache entry of four bytes a value would be.
 */
export function cachesSlices(spec: DataSpec): boolean {
  return spec.dataset === 'images' || (spec.dataset !== 'mnist' && spec.preprocess !== undefined);
}

/** Bump when what an entry holds changes. */
const FORMAT = 1;

/** The key of a slice whose step keys hold `fingerprint` (datasetFingerprint of the spec). */
export function sliceKey(fingerprint: unknown): string {
  // Arrays are stored in this machine's byte order, so another order is another entry.
  return `slice-${sha256Hex(canonicalJson({ slice: FORMAT, mcbuild: MCBUILD_VERSION, order: endianness(), fingerprint }))}`;
}

interface SliceMeta {
  slice: number;
  name: string;
  count: number;
  inputShape: number[];
  /** Set when x is stored as bytes u: x = u·a[c] + b[c], c = index % channels (files.ts normaliser). */
  bytes?: { a: number[]; b: number[] };
  /** Bytes per label (1, 2 or 4), when there are labels. */
  labelBytes?: number;
  numClasses?: number;
  classesInferred?: true;
  classNames?: string[];
  digest?: string;
}

function bytesOf(a: Float32Array | Labels): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** x as bytes u with x = fround(u·a[c] + b[c]) exactly, or undefined when some value is not one of those. */
export function packBytes(x: Float32Array, a: Float64Array, b: Float64Array): Uint8Array | undefined {
  const channels = a.length;
  const out = new Uint8Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const c = k % channels;
    const u = Math.round((x[k]! - b[c]!) / a[c]!);
    if (!(u >= 0 && u <= 255) || Math.fround(u * a[c]! + b[c]!) !== x[k]) return undefined;
    out[k] = u;
  }
  return out;
}

/** The entry of a slice; `coefficients`, its normalisation's, let 8-bit data be stored as bytes. */
export function sliceEntry(ds: Dataset, coefficients?: { a: Float64Array; b: Float64Array }): CacheEntry {
  const packed = coefficients && packBytes(ds.x, coefficients.a, coefficients.b);
  const files = new Map<string, Uint8Array>([['x', packed ?? bytesOf(ds.x)]]);
  const meta: SliceMeta = { slice: FORMAT, name: ds.name, count: ds.count, inputShape: ds.inputShape };
  if (packed) meta.bytes = { a: Array.from(coefficients.a), b: Array.from(coefficients.b) };
  if (ds.y) {
    files.set('y', bytesOf(ds.y));
    meta.labelBytes = ds.y.BYTES_PER_ELEMENT;
  }
  if (ds.numClasses !== undefined) meta.numClasses = ds.numClasses;
  if (ds.classesInferred) meta.classesInferred = true;
  if (ds.classNames) meta.classNames = ds.classNames;
  if (ds.digest !== undefined) meta.digest = ds.digest;
  return { files, meta: meta as unknown as Record<string, unknown> };
}

/** x from stored bytes and coefficients, or undefined when they do not fit together. */
function unpackBytes(u: Uint8Array, coefficients: Partial<SliceMeta['bytes']>): Float32Array | undefined {
  const { a, b } = coefficients ?? {};
  if (!Array.isArray(a) || !Array.isArray(b) || a.length === 0 || a.length !== b.length) return undefined;
  const channels = a.length;
  const x = new Float32Array(u.length);
  for (let k = 0; k < u.length; k++) x[k] = u[k]! * a[k % channels]! + b[k % channels]!;
  return x;
}

/** Copies bytes into a fresh typed array (cached bytes need not be aligned for a view). */
function copyInto<T extends Float32Array | Labels>(make: (n: number) => T, bytes: Uint8Array, width: number): T {
  const out = make(bytes.byteLength / width);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** The dataset an entry holds, or undefined when it does not hold a whole one. */
export function sliceFromEntry(entry: CacheEntry): Dataset | undefined {
  const m = entry.meta as Partial<SliceMeta>;
  const x = entry.files.get('x');
  if (m.slice !== FORMAT || typeof m.name !== 'string' || typeof m.count !== 'number') return undefined;
  if (!Array.isArray(m.inputShape) || !x) return undefined;
  const per = m.inputShape.reduce((a: number, b: number) => a * b, 1);
  if (x.byteLength !== m.count * per * (m.bytes ? 1 : 4)) return undefined;
  const values = m.bytes ? unpackBytes(x, m.bytes) : copyInto((n) => new Float32Array(n), x, 4);
  if (!values) return undefined;
  const ds: Dataset = { name: m.name, x: values, count: m.count, inputShape: m.inputShape };
  const y = entry.files.get('y');
  if (y) {
    const w = m.labelBytes;
    if ((w !== 1 && w !== 2 && w !== 4) || y.byteLength !== m.count * w) return undefined;
    ds.y = copyInto((n) => (w === 1 ? new Uint8Array(n) : w === 2 ? new Uint16Array(n) : new Uint32Array(n)), y, w);
  }
  if (m.numClasses !== undefined) ds.numClasses = m.numClasses;
  if (m.classesInferred) ds.classesInferred = true;
  if (m.classNames) ds.classNames = m.classNames;
  if (m.digest !== undefined) ds.digest = m.digest;
  return ds;
}

/**
 * The slice from `store` when it has it, else `load()`'s, stored for next time. A store that cannot be
 * read or written costs the decode, not the build: the step's own cache write reports an unwritable cache.
 */
export async function cachedSlice(
  store: SliceStore,
  spec: DataSpec,
  fingerprint: unknown,
  load: () => Promise<Dataset>,
): Promise<Dataset> {
  const key = sliceKey(fingerprint);
  const entry = await store.read(key).catch(() => undefined);
  const hit = entry && sliceFromEntry(entry);
  if (hit) return hit;
  const ds = await load();
  const channels = ds.inputShape[ds.inputShape.length - 1] ?? 1;
  const coefficients = spec.dataset === 'mnist' ? undefined : normaliser(spec, channels, describeNothing);
  await store.write(key, sliceEntry(ds, coefficients)).catch(() => {});
  return ds;
}

/** The loader already checked the normalisation against the data, so its errors cannot name anything here. */
const describeNothing = 'the cached slice';
