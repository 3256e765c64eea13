import type { OptionsSchema } from '../define.js';

/** The prune-channels pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    "Structured pruning: removes whole output channels (filters) of Conv2D layers and units of Dense layers, ranked by importance, and rewires every layer that reads them: the following BatchNormalization (gamma, beta, moving statistics), DepthwiseConv2D kernels and biases (a depthwise layer's channels follow its input), the next Conv2D's input channels, Dense inputs after GlobalAveragePooling2D or Flatten (channel-fastest NHWC order). Tensors summed by an Add (residual connections) are pruned as one group with one shared selection by importance summed over the group. The model's output layer, and channels read by a layer the pass cannot rewire (Concatenate, Reshape, ...), are never pruned; such groups are listed as skipped with the reason. The result is an ordinary, smaller model that stock TF.js loads: fewer parameters, MACs and latency. On graph models the roots are Conv2D and MatMul nodes (fused or not) and their channels are followed through bias, FusedBatchNorm, activations, Pad, pooling, spatial Mean, a Squeeze or Reshape to [batch, channels] after it, depthwise convolutions and AddV2 groups; a root whose channels reach another op (ConcatV2, a Reshape that may move channels, ...) is skipped with the node and op named. Pure JS, no TF.js; its output is float32. Follow it with a finetune.",
  type: 'object',
  additionalProperties: false,
  required: ['sparsity'],
  properties: {
    sparsity: {
      description:
        'Fraction of channels removed, in [0, 1): round(sparsity · n) of the n channels of each layer or Add group (scope layer), or of all candidate channels together (scope global). A plan that would leave a named layer with no channel is an error; a layer taken implicitly is then skipped.',
      type: 'number',
      minimum: 0,
      exclusiveMaximum: 1,
    },
    criterion: {
      description:
        "How channels are ranked, the least important removed first: l1 (default), the sum of |w| of the channel's filter; l2, its Euclidean norm; bn-gamma, |gamma| of the BatchNormalization right after the layer (Network Slimming; layers without one are skipped).",
      enum: ['l1', 'l2', 'bn-gamma'],
    },
    scope: {
      description:
        'layer: each layer (or Add group) loses the same fraction of its channels (default); global: all candidate channels ranked together (|gamma| as is, l1/l2 per weight so layers of different fan-in compare), each layer keeping at least one.',
      enum: ['layer', 'global'],
    },
    roundTo: {
      description:
        'Round each kept channel count up to a multiple of this (e.g. 8, SIMD-friendly widths); default 1, no rounding.',
      type: 'integer',
      minimum: 1,
    },
    layers: {
      description:
        'Names of the Conv2D / Dense layers (graph models: Conv2D / MatMul nodes) to prune, exactly as in model.json (a layer in an Add group prunes its whole group). A name the model lacks, a layer of another class (a DepthwiseConv2D follows the layer feeding it) or a layer whose channels cannot be removed (the output layer, ...) is an error naming why. Default: every prunable layer; the others are listed as skipped with the reason.',
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: {
        type: 'string',
        minLength: 1,
      },
    },
  },
};
