/**
 * shard: sets the size of the weight shard files (group1-shard{i}of{n}.bin) the model is written with from
 * this pass on. Smaller shards suit CDNs and browser caches with per-file limits; fewer, larger ones mean
 * fewer requests. The weight bytes themselves never change, so neither do predictions.
 *
 * Boundaries are byte offsets: every shard but the last holds exactly `shardBytes` bytes and a weight may
 * straddle two shards. This is what tensorflowjs_converter writes, stock TF.js concatenates a group's
 * shards before decoding, and it lets mcbuild read the size back from the files of a cached model exactly
 * (the first shard's length). Passes after this one keep the size: the executor carries it over to a
 * pass's output when the pass does not set one.
 */
import { McbError } from '../../errors.js';
import { DEFAULT_SHARD_BYTES } from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { formatBytes, parseByteSize } from '../../util/bytes.js';
import { definePass } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export interface ShardOptions {
  shardBytes: number;
}

/** Below this, a model of a few hundred kB turns into hundreds of requests. */
export const MIN_SHARD_BYTES = 1000;

export const shard = definePass<ShardOptions>({
  meta: {
    name: 'shard',
    version: 1,
    summary: 'set the size of the weight shard files written from here on (the weights are unchanged)',
    docs: DOCS,
    schema,
    models: ['layers', 'graph'],
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions(raw, place) {
    if (raw.shardBytes === undefined) return { shardBytes: DEFAULT_SHARD_BYTES };
    const value = raw.shardBytes;
    const bytes = typeof value === 'number' || typeof value === 'string' ? parseByteSize(value) : undefined;
    if (bytes === undefined || (typeof value === 'number' && !Number.isInteger(value))) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, 'shardBytes'])}\` is not a size (got ${JSON.stringify(value)}) at ${place.at('shardBytes')}; write a whole number of bytes or a size such as 512kB, 4MB or 1MiB.`,
      );
    }
    if (bytes < MIN_SHARD_BYTES) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, 'shardBytes'])}\` is ${bytes} bytes at ${place.at('shardBytes')}; shards must hold at least 1 kB (${MIN_SHARD_BYTES} bytes).`,
      );
    }
    return { shardBytes: bytes };
  },

  async apply(model, options) {
    const before = Math.max(1, Math.ceil(model.weightData.byteLength / (model.shardBytes ?? DEFAULT_SHARD_BYTES)));
    const after = Math.max(1, Math.ceil(model.weightData.byteLength / options.shardBytes));
    return {
      model: { ...model, shardBytes: options.shardBytes },
      stats: {
        shardBytes: options.shardBytes,
        shardSize: formatBytes(options.shardBytes),
        weightBytes: model.weightData.byteLength,
        shardsBefore: before,
        shardsAfter: after,
      },
    };
  },
});
