import type { OptionsSchema } from '../define.js';

/** The fold-batchnorm pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    "Fold every BatchNormalization that directly follows a Conv2D, DepthwiseConv2D or Dense layer (with a linear activation, whose output nothing else reads) into that layer's kernel and bias, and remove it from the model: the same function (within float32 rounding) with fewer layers, parameters and FLOPs, and lower latency in any TF.js runtime. Batch norms it cannot fold are kept and listed with the reason. No options; no TF.js. Its output is float32: put it first.",
  type: 'object',
  additionalProperties: false,
  properties: {},
};
