import type { OptionsSchema } from '../define.js';

/** The shard pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    'Set the size of the weight shard files (group1-shard{i}of{n}.bin) the model is written with from this pass on; later passes keep it. The weights and predictions are unchanged: shards are cut at every multiple of the size, as tensorflowjs_converter does, and TF.js joins them on load.',
  type: 'object',
  additionalProperties: false,
  properties: {
    shardBytes: {
      $ref: '#/$defs/byteSize',
      description:
        "Bytes per shard file (the last one holds the rest): a number of bytes or a string such as 512kB, 4MB, 1MiB; at least 1kB. Default 4MiB (4194304 bytes), TF.js's default.",
    },
  },
};
