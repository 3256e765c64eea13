/**
 * The TF.js model format on disk (model.json + binary weight shards), read and written without TF.js.
 * Keeping this TF.js-free lets the cache, the size metric and the export work on a fully cached build
 * without loading an engine at all.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import { createHash } from 'node:crypto';
import { concatBytes, storedByteLength, type PackedQuantization } from '../runtime/decode.js';
import type { CodebookQuantization, EntropyEncoding } from '../runtime/encoded.js';

/** TF.js-native quantization dtypes (stock TF.js decodes them), then mcbuild's packed ones (docs/packed-format.md). */
export type NativeQuantizationDtype = 'uint8' | 'uint16' | 'float16';
export type QuantizationDtype = NativeQuantizationDtype | PackedQuantization['dtype'] | 'bfloat16';

export interface NativeQuantization {
  dtype: NativeQuantizationDtype;
  min?: number;
  scale?: number;
  original_dtype?: string;
}

/** bfloat16 (mcbuild/runtime): the upper half of each float32. */
export interface BfloatQuantization {
  dtype: 'bfloat16';
  checksum: string;
  original_dtype?: string;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: NativeQuantization | (PackedQuantization & { encoding?: EntropyEncoding }) | CodebookQuantization | BfloatQuantization;
  [extra: string]: unknown;
}

/** A model in memory: model.json's members (without weightsManifest), the weight specs, all weight bytes in order. */
export interface StoredModel {
  json: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  weightData: Uint8Array;
  /**
   * Weight shard size the model is written with (set by the `shard` pass); undefined means
   * DEFAULT_SHARD_BYTES. It only decides how the bytes are split into files, never the bytes themselves.
   */
  shardBytes?: number;
}

export const MODEL_JSON = 'model.json';
/** TF.js converter's default shard size: big enough to keep requests few, small enough for browser caches. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Bytes one weight occupies in the shards, honouring its quantization (packed weights: scales, offsets and
 * packed integers, computed by the runtime decoder itself). Throws on a dtype or packed spec it cannot read.
 */
export function weightByteLength(spec: WeightSpec): number {
  return storedByteLength(spec);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function modelKind(json: Record<string, unknown>): 'layers' | 'graph' {
  const topology = json.modelTopology as Record<string, unknown> | undefined;
  return json.format === 'graph-model' || (topology !== undefined && 'node' in topology) ? 'graph' : 'layers';
}

/** Number of stored weight values (trainable or not): what "params" means in reports. */
export function paramCount(model: StoredModel): number {
  return model.weightSpecs.reduce((n, s) => n + elementCount(s.shape), 0);
}

/**
 * Serialises to the exact files that are exported: model.json and group1-shard{i}of{n}.bin. The weight
 * bytes are cut at every multiple of the shard size, as tensorflowjs_converter does (a weight may straddle
 * two shards; TF.js concatenates a group's shards before decoding), so every shard but the last is exactly
 * `shardBytes` long and filesToModel can recover the size from the files.
 */
export function modelToFiles(model: StoredModel, shardBytes = model.shardBytes ?? DEFAULT_SHARD_BYTES): Map<string, Uint8Array> {
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1) throw new Error(`invalid shard size ${shardBytes}`);
  const total = model.weightData.byteLength;
  const n = Math.max(1, Math.ceil(total / shardBytes));
  const files = new Map<string, Uint8Array>();
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `group1-shard${i + 1}of${n}.bin`;
    paths.push(name);
    files.set(name, model.weightData.subarray(i * shardBytes, Math.min(total, (i + 1) * shardBytes)));
  }
  const json = { ...model.json, weightsManifest: [{ paths, weights: model.weightSpecs }] };
  // model.json first, so a reader listing the map sees the entry point first.
  return new Map([[MODEL_JSON, new TextEncoder().encode(JSON.stringify(json))], ...files]);
}

/** Inverse of modelToFiles for files that came from our own cache (already validated once). */
export function filesToModel(files: ReadonlyMap<string, Uint8Array>): StoredModel {
  const jsonBytes = files.get(MODEL_JSON);
  if (!jsonBytes) throw new Error('model files without model.json');
  const json = JSON.parse(new TextDecoder().decode(jsonBytes)) as Record<string, unknown>;
  return fromParsedJson(json, (path) => {
    const data = files.get(path);
    if (!data) throw new Error(`model files without ${path}`);
    return data;
  }, 'cache');
}

/**
 * Reads and checks a model.json and its shards from disk. Anything that is not a well-formed TF.js model
 * is an McbError naming the file and what is wrong, so a bad model never reaches TF.js's own errors.
 */
export async function readModelDir(modelJsonPath: string): Promise<{ model: StoredModel; digest: string }> {
  let text: string;
  try {
    const s = await stat(modelJsonPath);
    if (s.isDirectory()) {
      throw new McbError('MCB_MODEL_NOT_FOUND', `model path ${modelJsonPath} is a directory; point \`model.path\` at the model.json inside it.`);
    }
    text = await readFile(modelJsonPath, 'utf8');
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_MODEL_NOT_FOUND',
      `model file ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Fix \`model.path\` (it is relative to the recipe file), or train a builtin architecture with \`model.train\`.`,
    );
  }
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch (e) {
    throw new McbError('MCB_MODEL_INVALID', `${modelJsonPath} is not a TF.js model.json: it is not a JSON object (${e instanceof Error ? e.message : String(e)}). Save the model with TF.js \`model.save()\` or tensorflowjs_converter.`);
  }
  const dir = dirname(modelJsonPath);
  // The digest covers the exact bytes read (model.json, then each shard in manifest order): it is what the
  // load step's key trusts.
  const hash = createHash('sha256').update(text);
  const shards = new Map<string, Uint8Array>();
  for (const path of manifestPaths(json, modelJsonPath)) {
    const full = resolve(dir, path);
    try {
      const bytes = new Uint8Array(await readFile(full));
      hash.update(`\0${path}\0`).update(bytes);
      shards.set(path, bytes);
    } catch (e) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `weight shard ${path} listed in ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'is missing' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Copy every .bin file that model.json lists next to it.`,
      );
    }
  }
  return { model: fromParsedJson(json, (path) => shards.get(path)!, modelJsonPath), digest: hash.digest('hex') };
}

/** The shard paths of a manifest, checked to stay inside the model's folder. */
function manifestPaths(json: Record<string, unknown>, where: string): string[] {
  const fix = 'Save the model with TF.js `model.save()` or tensorflowjs_converter.';
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new McbError('MCB_MODEL_INVALID', `${where} is not a TF.js model.json: it has no \`modelTopology\` object. ${fix}`);
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new McbError('MCB_MODEL_INVALID', `${where} is not a TF.js model.json: it has no \`weightsManifest\` list. ${fix}`);
  }
  const paths: string[] = [];
  for (const [g, group] of manifest.entries()) {
    const groupPaths = (group as { paths?: unknown })?.paths;
    const weights = (group as { weights?: unknown })?.weights;
    if (!Array.isArray(groupPaths) || !Array.isArray(weights) || !groupPaths.every((p) => typeof p === 'string')) {
      throw new McbError('MCB_MODEL_INVALID', `${where}: weightsManifest[${g}] needs a \`paths\` list of file names and a \`weights\` list. ${fix}`);
    }
    for (const p of groupPaths as string[]) {
      const norm = normalize(p);
      if (isAbsolute(p) || norm.startsWith(`..${sep}`) || norm === '..' || relative('.', norm).startsWith('..')) {
        throw new McbError('MCB_MODEL_INVALID', `${where}: weight shard path ${JSON.stringify(p)} points outside the model's folder; shard paths must be plain file names next to model.json.`);
      }
      paths.push(p);
    }
  }
  return paths;
}

function fromParsedJson(json: Record<string, unknown>, shard: (path: string) => Uint8Array, where: string): StoredModel {
  manifestPaths(json, where);
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const [g, group] of manifest.entries()) {
    let expected = 0;
    for (const spec of group.weights) {
      if (typeof spec?.name !== 'string' || !Array.isArray(spec.shape) || typeof spec.dtype !== 'string') {
        throw new McbError('MCB_MODEL_INVALID', `${where}: weightsManifest[${g}] has a weight without name, shape and dtype.`);
      }
      try {
        expected += weightByteLength(spec);
      } catch (e) {
        throw new McbError('MCB_MODEL_INVALID', `${where}: weight ${spec.name} has dtype ${spec.quantization?.dtype ?? spec.dtype}, which mcbuild cannot read (${e instanceof Error ? e.message : String(e)}; float32, int32, bool, uint8, uint16, float16 and the packed int8, int4 and int2 are supported).`);
      }
      specs.push(spec);
    }
    const groupChunks = group.paths.map(shard);
    const actual = groupChunks.reduce((n, c) => n + c.byteLength, 0);
    if (actual !== expected) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: the weight shards of group ${g + 1} (${group.paths.join(', ')}) hold ${actual} bytes but its weights need ${expected}. A shard is truncated, or from another model; export the model again.`,
      );
    }
    chunks.push(...groupChunks);
  }
  const { weightsManifest: _drop, ...rest } = json;
  const shardBytes = recoverShardBytes(manifest.map((group) => group.paths.map((p) => shard(p).byteLength)));
  return { json: rest, weightSpecs: specs, weightData: concatBytes(chunks), ...(shardBytes === undefined ? {} : { shardBytes }) };
}

/**
 * The shard size that makes modelToFiles write these shards again: the first shard's length when a group
 * has several (every shard but the last is full), the shard's length when a single shard is larger than the
 * default. Undefined when the default reproduces the files, so models written before the `shard` pass
 * existed read back exactly as they did.
 */
function recoverShardBytes(groups: readonly number[][]): number | undefined {
  const multi = groups.find((lengths) => lengths.length > 1);
  const size = multi ? multi[0]! : Math.max(0, ...groups.flat());
  if (multi ? size === DEFAULT_SHARD_BYTES || size < 1 : size <= DEFAULT_SHARD_BYTES) return undefined;
  return size;
}

export { concatBytes } from '../runtime/decode.js';
