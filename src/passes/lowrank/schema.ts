import type { OptionsSchema } from '../define.js';

/** The lowrank pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    'Low-rank decomposition: replaces each Dense layer by two Dense layers (in→r without bias or activation, then r→out with the original bias and activation) and each Conv2D by a k×k Conv2D with r filters (the original strides, padding and dilation) followed by a 1×1 Conv2D with the original bias and activation, from a truncated SVD of the kernel (read as an (in)×(out) or (kh·kw·cin)×(cout) matrix). The new layers are named <layer>_lr1 and <layer>_lr2. A layer is only replaced when the factors store fewer parameters, r·(m + n) < m·n; otherwise it stays, with the reason in the stats. Exactly one of rank, ratio and energy. Pure JS, no TF.js; its output is float32, and an ordinary layers model.',
  type: 'object',
  additionalProperties: false,
  properties: {
    rank: {
      description:
        'The rank r of every factorisation: at least 1 and below min(m, n) of each layer it is applied to (a named layer that is too small is an error; a layer taken implicitly is skipped).',
      type: 'integer',
      minimum: 1,
    },
    ratio: {
      description:
        "Fraction of each layer's parameters (kernel and bias) kept: the largest rank r with r·(m + n) + bias ≤ ratio·(m·n + bias). 0.25 makes each decomposed layer at least 4x smaller.",
      type: 'number',
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
    },
    energy: {
      description:
        "Fraction of the kernel's energy kept, the sum of its squared singular values: the smallest rank r with Σ_{i≤r} σ_i² ≥ energy · Σ σ_i². A layer whose spectrum is too flat for that to save parameters is skipped.",
      type: 'number',
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
    },
    layers: {
      description:
        'Names of the layers to decompose, exactly as in model.json (Dense or Conv2D; a name the model lacks, or a layer lowrank cannot decompose, is an error). Default: every Dense and Conv2D layer; others with a kernel are listed as skipped.',
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
