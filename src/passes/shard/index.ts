/**
 * shard: sets the size the model's weight files are cut at from this pass on (src/model/files.ts cuts them;
 * the executor carries the size to later passes' outputs). What it does, for users: ./docs.ts.
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
    mayBeEmpty: 'the weights are already cut into shards of that size',
  },
  defaultOptions: { shardBytes: DEFAULT_SHARD_BYTES },
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
