import type { OptionsSchema } from '../define.js';

/** The encode pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    'Entropy-code weights with a small alphabet, the last stage of Deep Compression: packed int8/int4/int2 weights (their integers) and weights with at most 256 distinct values (clustered or quantized per tensor: a codebook). Sparse weights are stored as (gap, symbol) pairs of their non-zeros, others symbol by symbol, whichever is smaller, as DEFLATE. Lossless; the output loads with mcbuild/runtime. Put it after the passes that change weights.',
  type: 'object',
  additionalProperties: false,
  properties: {
    level: {
      description:
        'DEFLATE level of the LZ77 attempt on streams of at most 4096 symbols, 1 (fastest) to 9 (smallest, the default); Huffman and run-length coding of longer streams do not depend on it.',
      type: 'integer',
      minimum: 1,
      maximum: 9,
    },
  },
};
