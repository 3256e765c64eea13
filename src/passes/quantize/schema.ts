import type { OptionsSchema } from '../define.js';

/** The quantize pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    "Store weights in fewer bits. float16 and uint8/uint16 (affine per tensor: one min and scale per tensor) are TF.js's own formats: stock TF.js decodes them on load. bfloat16 (every float32 weight) and int8/int4/int2 are mcbuild's packed format (docs/packed-format.md): int8/int4/int2 pack only float32 kernels of Dense, Conv2D and DepthwiseConv2D layers (biases, batch-norm and other weights stay float32; int32 weights are never quantized), stock TF.js refuses such a model and it loads with `mcbuild/runtime` (tf.loadLayersModel(mcbuildLoader(url))).",
  type: 'object',
  additionalProperties: false,
  properties: {
    dtype: {
      description:
        "Storage type (default uint8). float16, uint8, uint16: TF.js-native. bfloat16: the upper half of each float32 (float32's range, 8 significant bits; mcbuild/runtime decodes it). int8, int4, int2: packed integers with float32 scales (int4/int2 are packed 2/4 per byte); symmetric int2 is ternary (−1, 0, 1).",
      enum: ['float16', 'bfloat16', 'uint8', 'uint16', 'int8', 'int4', 'int2'],
    },
    bits: {
      description: 'Shorthand: 8 = uint8, 16 = uint16, 4 = int4, 2 = int2. Must agree with dtype when both are set.',
      enum: [2, 4, 8, 16],
    },
    granularity: {
      description:
        'Values sharing one scale: per-tensor (default; the only choice for float16/bfloat16/uint8/uint16), per-channel (one scale per output channel: the last axis of Dense/Conv2D kernels, each c·m channel of a DepthwiseConv2D [kh,kw,c,m] kernel) or per-group (groupSize consecutive values along the reduction axis within each output channel). per-channel and per-group need int8, int4 or int2.',
      enum: ['per-tensor', 'per-channel', 'per-group'],
    },
    groupSize: {
      description:
        'Values per scale for granularity per-group (required there, refused otherwise), counted along the flattened reduction axes (e.g. kh·kw·in of a Conv2D kernel, input channel fastest); the last group of a channel may be shorter.',
      type: 'integer',
      minimum: 1,
    },
    symmetric: {
      description:
        'int8/int4/int2 only (default true): value = q·scale with q in ±(2^(b−1)−1), zero exact. false: value = q·scale + offset with q in [0, 2^b−1] (one more level, a float32 offset per scale). Refused with float16 and bfloat16, and as true with uint8/uint16, whose format TF.js fixes.',
      type: 'boolean',
    },
    clip: {
      description:
        'int8/int4/int2 only: none (default; the range is the largest magnitude, rounding to nearest) or mse (per channel/group, try clipping the range to 100%, 95%, … 50% and keep the lowest squared error; never worse than none).',
      enum: ['none', 'mse'],
    },
  },
};
