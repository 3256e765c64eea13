/**
 * A StoredModel as the files that are exported and cached (model.json and group1-shard{i}of{n}.bin), and
 * back. No TF.js: the cache, the size metric and the export work on a fully cached build without an engine.
 */
import { concatBytes } from '../runtime/decode.js';
import { DEFAULT_SHARD_BYTES, MODEL_JSON, type StoredModel, type WeightSpec } from './format.js';
import { groupBytes, shardSizeError } from './manifest.js';

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

export function fromParsedJson(
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
