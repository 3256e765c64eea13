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
  quantization?:
    | NativeQuantization
    | (PackedQuantization & { encoding?: EntropyEncoding })
    | CodebookQuantization
    | BfloatQuantization;
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
/**
 * Hostile-input limits, checked before anything is allocated for what a model.json claims. A real model.json
 * is kilobytes to a few megabytes of topology (the weights are in the shards); 64 MB is room for the largest
 * graph models and stops a multi-gigabyte file from being read and parsed.
 */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** Keras and graph topologies nest about a dozen levels; far deeper is hostile and would overflow later walks. */
export const MAX_MODEL_JSON_DEPTH = 128;
/** TF.js indexes tensors with int32: a weight of more elements cannot be built, whatever the shards hold. */
export const MAX_WEIGHT_ELEMENTS = 2 ** 31 - 1;
/** All weights of one model, read into memory at once: 2 GiB is beyond any model served with TF.js. */
export const MAX_WEIGHT_BYTES = 2 * 1024 * 1024 * 1024;
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

/**
 * Weights holding NaN or ±Infinity, with how many values each: float32 weights as stored and float16-quantized
 * ones (their exponent bits all ones). Integer-quantized weights cannot hold them (their min and scale come
 * from JSON, which has no NaN). Read on the raw bytes: no allocation, any alignment.
 */
export function nonFiniteWeights(model: StoredModel): { name: string; count: number }[] {
  const found: { name: string; count: number }[] = [];
  const d = model.weightData;
  let off = 0;
  for (const spec of model.weightSpecs) {
    const len = weightByteLength(spec);
    const kind = spec.quantization
      ? spec.quantization.dtype === 'float16'
        ? 'f16'
        : undefined
      : spec.dtype === 'float32'
        ? 'f32'
        : undefined;
    let count = 0;
    if (kind === 'f32')
      for (let i = off; i + 3 < off + len; i += 4)
        count += (d[i + 3]! & 0x7f) === 0x7f && (d[i + 2]! & 0x80) !== 0 ? 1 : 0;
    else if (kind === 'f16') for (let i = off; i + 1 < off + len; i += 2) count += (d[i + 1]! & 0x7c) === 0x7c ? 1 : 0;
    if (count > 0) found.push({ name: spec.name, count });
    off += len;
  }
  return found;
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
export function modelToFiles(
  model: StoredModel,
  shardBytes = model.shardBytes ?? DEFAULT_SHARD_BYTES,
): Map<string, Uint8Array> {
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
  return fromParsedJson(
    json,
    (path) => {
      const data = files.get(path);
      if (!data) throw new Error(`model files without ${path}`);
      return data;
    },
    'cache',
  );
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
      throw new McbError(
        'MCB_MODEL_NOT_FOUND',
        `model path ${modelJsonPath} is a directory; point \`model.path\` at the model.json inside it.`,
      );
    }
    // A device or FIFO (/dev/zero, /dev/stdin) has no size to check and may never end: regular files only.
    if (!s.isFile())
      throw new McbError(
        'MCB_MODEL_INVALID',
        `model path ${modelJsonPath} is not a regular file; point \`model.path\` at a model.json.`,
      );
    if (s.size > MAX_MODEL_JSON_BYTES) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${modelJsonPath} is ${s.size} bytes; a model.json may be at most ${MAX_MODEL_JSON_BYTES} bytes (the weights belong in the .bin shards it lists). Check that \`model.path\` names the model's model.json.`,
      );
    }
    text = await readFile(modelJsonPath, 'utf8');
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_MODEL_NOT_FOUND',
      `model file ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Fix \`model.path\` (it is relative to the recipe file), or train a builtin architecture with \`model.train\`.`,
    );
  }
  const depth = jsonDepth(text);
  if (depth > MAX_MODEL_JSON_DEPTH) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${modelJsonPath} nests its JSON more than ${MAX_MODEL_JSON_DEPTH} levels deep; TF.js model.json files are a few levels deep. This is not a model file mcbuild will read.`,
    );
  }
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch (e) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${modelJsonPath} is not a TF.js model.json: it is not a JSON object (${e instanceof Error ? e.message : String(e)}). Save the model with TF.js \`model.save()\` or tensorflowjs_converter.`,
    );
  }
  if (modelKind(json) === 'layers') checkLayerNames(json.modelTopology, modelJsonPath);
  const dir = dirname(modelJsonPath);
  // The digest covers the exact bytes read (model.json, then each shard in manifest order): it is what the
  // load step's key trusts.
  const hash = createHash('sha256').update(text);
  const shards = new Map<string, Uint8Array>();
  // Sizes first, from the manifest and the file system: a shard longer or shorter than the weights need is
  // refused before it is read, so a multi-gigabyte file named in a manifest is never loaded.
  const expected = groupBytes(json, modelJsonPath);
  checkWeightList(json, modelJsonPath);
  const manifest = json.weightsManifest as { paths: string[] }[];
  for (const [g, group] of manifest.entries()) {
    const sizes: number[] = [];
    for (const path of group.paths) {
      const full = resolve(dir, path);
      if (!isInside(dir, full)) throw outsideFolder(modelJsonPath, path);
      try {
        const st = await stat(full);
        sizes.push(st.isFile() ? st.size : Number.NaN);
      } catch (e) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight shard ${path} listed in ${modelJsonPath} ${errnoCode(e) === 'ENOENT' ? 'is missing' : `cannot be read (${errnoCode(e) ?? String(e)})`}. Copy every .bin file that model.json lists next to it.`,
        );
      }
    }
    const bad = sizes.findIndex((n) => Number.isNaN(n));
    if (bad >= 0)
      throw new McbError(
        'MCB_MODEL_INVALID',
        `weight shard ${group.paths[bad]!} listed in ${modelJsonPath} is not a regular file. Copy every .bin file that model.json lists next to it.`,
      );
    const actual = sizes.reduce((a, b) => a + b, 0);
    if (actual !== expected[g]) throw shardSizeError(modelJsonPath, g, group.paths, sizes, expected[g]!);
  }
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
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where} is not a TF.js model.json: it has no \`modelTopology\` object. ${fix}`,
    );
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where} is not a TF.js model.json: it has no \`weightsManifest\` list. ${fix}`,
    );
  }
  const paths: string[] = [];
  for (const [g, group] of manifest.entries()) {
    const groupPaths = (group as { paths?: unknown })?.paths;
    const weights = (group as { weights?: unknown })?.weights;
    if (!Array.isArray(groupPaths) || !Array.isArray(weights) || !groupPaths.every((p) => typeof p === 'string')) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: weightsManifest[${g}] needs a \`paths\` list of file names and a \`weights\` list. ${fix}`,
      );
    }
    for (const p of groupPaths as string[]) {
      const norm = normalize(p);
      // A URL (https:, file:, data:) would be fetched by a browser loader; mcbuild reads only local files
      // next to model.json, and says so rather than trying a path named "https:".
      const url = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(p);
      if (
        p === '' ||
        p.includes('\0') ||
        url ||
        isAbsolute(p) ||
        /(^|[\\/])\.\.([\\/]|$)/.test(p) ||
        norm.startsWith(`..${sep}`) ||
        norm === '..' ||
        relative('.', norm).startsWith('..')
      ) {
        throw outsideFolder(where, p);
      }
      paths.push(p);
    }
  }
  return paths;
}

/**
 * What the TF.js loaders would trip over later with a stack instead of a message (run after groupBytes, which
 * checked each weight has a name, shape and dtype): a shard listed twice (its bytes would be read twice, giving
 * every later weight wrong values), a weight name listed twice, a complex64 weight (no mcbuild pass or wasm
 * kernel handles it), and in a layers model a weight that is not float32 (layer variables are float32;
 * quantized weights keep `"dtype": "float32"` and name their storage in `quantization`).
 */
function checkWeightList(json: Record<string, unknown>, where: string): void {
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  const layers = modelKind(json) === 'layers';
  const paths = new Set<string>();
  const names = new Set<string>();
  for (const group of manifest) {
    for (const p of group.paths) {
      const key = normalize(p);
      if (paths.has(key))
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight shard ${JSON.stringify(p)} is listed twice in weightsManifest; each shard holds its own bytes and is listed once. Export the model again.`,
        );
      paths.add(key);
    }
    for (const spec of group.weights) {
      if (names.has(spec.name))
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} is listed twice in weightsManifest; every weight has one entry. Export the model again.`,
        );
      names.add(spec.name);
      const dtype = spec.quantization?.dtype ?? spec.dtype;
      if (dtype === 'complex64')
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} has dtype complex64, which mcbuild cannot read (float32, int32, bool, uint8, uint16, float16 and the packed int8, int4 and int2 are supported).`,
        );
      if (layers && spec.dtype !== 'float32')
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} of this layers model has dtype ${spec.dtype}; layer weights are float32 (a quantized weight keeps \`"dtype": "float32"\` and names its storage type in \`quantization\`). Export the model again.`,
        );
    }
  }
}

function outsideFolder(where: string, p: string): McbError {
  return new McbError(
    'MCB_MODEL_INVALID',
    `${where}: weight shard path ${JSON.stringify(p)} points outside the model's folder (an absolute path, a URL or a \`..\`); shard paths must be plain file names next to model.json, as TF.js \`model.save()\` writes them.`,
  );
}

function isInside(dir: string, full: string): boolean {
  const rel = relative(dir, full);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

function shardSizeError(
  where: string,
  g: number,
  paths: readonly string[],
  sizes: readonly number[],
  expected: number,
): McbError {
  const actual = sizes.reduce((a, b) => a + b, 0);
  const files = paths.map((p, i) => `${p} (${sizes[i]} bytes)`).join(', ');
  return new McbError(
    'MCB_MODEL_INVALID',
    `${where}: the weight shards of group ${g + 1} (${files}) hold ${actual} bytes but its weights need ${expected} (${actual < expected ? `${expected - actual} bytes short: a shard is truncated` : `${actual - expected} bytes too many: a shard is from another model`}). Export the model again.`,
  );
}

/** TF.js's own rule for tensor names (tfjs-layers common.ts); a layer name outside it fails deep in TF.js. */
const TENSOR_NAME = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

/** Layer names TF.js would refuse ("Not a valid tensor name"), reported with the file instead. */
function checkLayerNames(topology: unknown, where: string): void {
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const n = node as { model_config?: unknown; config?: unknown };
    if (n.model_config !== undefined) return visit(n.model_config);
    const config = n.config as { layers?: unknown } | unknown[] | undefined;
    const layers = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
    if (!Array.isArray(layers)) return;
    for (const [i, layer] of (layers as { config?: { name?: unknown } }[]).entries()) {
      const name = layer?.config?.name;
      if (name !== undefined && (typeof name !== 'string' || !TENSOR_NAME.test(name))) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: layer ${i} is named ${JSON.stringify(name)}, which TF.js cannot load (a layer name starts with a letter or digit and uses only letters, digits, -, ., _ and /). Rename the layer and save the model again.`,
        );
      }
      visit(layer);
    }
  };
  visit(topology);
}

/** Nesting depth of a JSON text, skipping strings; linear, and it never recurses. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * A weight's shape, checked before its byte length is trusted: non-negative integer dimensions whose product
 * stays below TF.js's int32 limit. Without this a shape of [1e10, 1e10] or [-1, 4] turns into a bogus byte
 * count (or an allocation attempt) far from the model.json that caused it.
 */
function checkShape(spec: WeightSpec, g: number, where: string): void {
  const dims = spec.shape as unknown[];
  let elements = 1;
  for (const d of dims) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: weight ${JSON.stringify(spec.name)} in weightsManifest[${g}] has shape ${JSON.stringify(dims)}; every dimension must be a non-negative integer. The model.json is damaged; export the model again.`,
      );
    }
    elements *= d;
  }
  if (dims.length > 8 || elements > MAX_WEIGHT_ELEMENTS) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where}: weight ${JSON.stringify(spec.name)} in weightsManifest[${g}] has shape ${JSON.stringify(dims)}, ${dims.length > 8 ? `${dims.length} dimensions (TF.js weights have at most 8)` : `${elements} elements (at most ${MAX_WEIGHT_ELEMENTS}, TF.js's limit)`}. The model.json is damaged or not a TF.js model.`,
    );
  }
}

/** Bytes each manifest group's weights need, every weight spec checked (names, shapes, dtypes) on the way. */
function groupBytes(json: Record<string, unknown>, where: string): number[] {
  manifestPaths(json, where);
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  let total = 0;
  const out = manifest.map((group, g) => {
    let expected = 0;
    for (const spec of group.weights) {
      if (
        typeof spec !== 'object' ||
        spec === null ||
        typeof spec.name !== 'string' ||
        !Array.isArray(spec.shape) ||
        typeof spec.dtype !== 'string'
      ) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weightsManifest[${g}] has a weight without name, shape and dtype.`,
        );
      }
      checkShape(spec, g, where);
      try {
        expected += weightByteLength(spec);
      } catch (e) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${where}: weight ${spec.name} has dtype ${spec.quantization?.dtype ?? spec.dtype}, which mcbuild cannot read (${e instanceof Error ? e.message : String(e)}; float32, int32, bool, uint8, uint16, float16 and the packed int8, int4 and int2 are supported).`,
        );
      }
    }
    total += expected;
    return expected;
  });
  if (!Number.isSafeInteger(total) || total > MAX_WEIGHT_BYTES) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${where}: the weights manifest lists ${total} bytes of weights; mcbuild reads at most ${MAX_WEIGHT_BYTES} bytes (2 GiB) of weights. The model.json is damaged, or the model is too large for TF.js.`,
    );
  }
  return out;
}

function fromParsedJson(
  json: Record<string, unknown>,
  shard: (path: string) => Uint8Array,
  where: string,
): StoredModel {
  const expected = groupBytes(json, where);
  const manifest = json.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  const specs: WeightSpec[] = manifest.flatMap((group) => group.weights);
  const chunks: Uint8Array[] = [];
  for (const [g, group] of manifest.entries()) {
    const groupChunks = group.paths.map(shard);
    const actual = groupChunks.reduce((n, c) => n + c.byteLength, 0);
    if (actual !== expected[g])
      throw shardSizeError(
        where,
        g,
        group.paths,
        groupChunks.map((c) => c.byteLength),
        expected[g]!,
      );
    chunks.push(...groupChunks);
  }
  const { weightsManifest: _drop, ...rest } = json;
  const shardBytes = recoverShardBytes(manifest.map((group) => group.paths.map((p) => shard(p).byteLength)));
  return {
    json: rest,
    weightSpecs: specs,
    weightData: concatBytes(chunks),
    ...(shardBytes === undefined ? {} : { shardBytes }),
  };
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
