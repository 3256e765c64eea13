import type { JsonSchema } from './types.js';

/** `data`; each role is a `#/$defs/dataSpec`, generated from the dataset kinds. */
export const DATA_KEY: JsonSchema = {
  description: 'The data each stage reads. `eval` measures baseline and result on the same samples.',
  type: 'object',
  additionalProperties: false,
  required: ['eval'],
  properties: {
    eval: {
      $ref: '#/$defs/dataSpec',
      description:
        "Data on which the baseline and the result are measured (and, with distill's compareAlone, the student trained alone; no pass trains on it). Without labels only fidelity to the baseline is measured, so accuracy thresholds are refused.",
    },
    calibration: {
      $ref: '#/$defs/dataSpec',
      description: 'Data passes may use to calibrate ranges (not used by the passes that exist yet).',
    },
    train: {
      $ref: '#/$defs/dataSpec',
      description:
        'Training data for passes that train (finetune, distill, prune with a schedule) and for `model.train` when it names no dataset. It needs labels, except for distill with `alpha: 0`.',
    },
  },
};
/** `passes`; each entry is a `#/$defs/passEntry`, generated from the pass definitions. */
export const PASSES_KEY: JsonSchema = {
  description:
    "Ordered list of compression passes; each entry is a map with one key, the pass name, whose value holds that pass's options.",
  type: 'array',
  maxItems: 100,
  items: {
    $ref: '#/$defs/passEntry',
  },
};
/** `overrides`; each block is a `#/$defs/overrideBlock`, generated from the pass definitions. */
export const OVERRIDES_KEY: JsonSchema = {
  description:
    'Per-layer options, as ordered blocks: each names layers (exact names, globs such as "conv_pw_*", or "re:<regex>" matching the whole name), layer classes (Conv2D, Dense, ...) and/or, in a graph model, ops (Conv2D, MatMul, ...); a layer must match every one of them a block gives. and gives passes their options for those layers, or `skip` to leave them out of that pass. Later blocks override earlier ones, option by option, over the pass\'s own options. A pattern or class that matches no layer of the model is an error. `mcbuild explain` prints the resolved per-layer plan.',
  type: 'array',
  maxItems: 200,
  items: {
    $ref: '#/$defs/overrideBlock',
  },
};
/** The part of an override block that is not a pass: which layers, and which pass entry. */
export const OVERRIDE_BLOCK_BASE: JsonSchema = {
  description:
    'One block of per-layer overrides: which layers (`layers`, `classes`, `ops`; at least one) and, for each pass named, its options for them or `skip`.',
  type: 'object',
  additionalProperties: false,
  properties: {
    layers: {
      description: 'Layer names: exact, a glob (`*` any characters, `?` one), or `re:<regex>` (full match).',
      type: 'array',
      minItems: 1,
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 500,
      },
    },
    classes: {
      description:
        "Keras layer classes, such as Conv2D, DepthwiseConv2D, Dense. A graph model's nodes have the class that computes the same (_FusedConv2D: Conv2D, FusedDepthwiseConv2dNative: DepthwiseConv2D, _FusedMatMul: Dense).",
      type: 'array',
      minItems: 1,
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 100,
      },
    },
    ops: {
      description:
        'Graph-model ops of the nodes that read weights, such as Conv2D, DepthwiseConv2dNative, MatMul, FusedBatchNormV3. A fused op also counts as the op it computes first: Conv2D matches _FusedConv2D, DepthwiseConv2dNative matches FusedDepthwiseConv2dNative, MatMul matches _FusedMatMul (name the fused op to match it alone). Layers models have no ops: a block with `ops` matches nothing there, which is an error.',
      type: 'array',
      minItems: 1,
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 100,
      },
    },
    pass: {
      description:
        'Only this entry of `passes` (its index, from 0), for a recipe that runs the same pass more than once; without it, the block applies to every entry of the passes it names.',
      type: 'integer',
      minimum: 0,
    },
  },
};

/** The description of `$defs/dataSpec`, whose branches come from the dataset kinds. */
export const DATA_SPEC_DESCRIPTION =
  'A slice of a dataset: `mnist` (built in), `images` (a folder of PNG/JPEG files, one sub-folder per class), `npy` (NumPy .npy files) or `npz` (named arrays of a .npz archive). Paths are relative to the recipe file that writes them. Data without labels (an image folder without class sub-folders, arrays without `y`) can only be used for fidelity to the baseline (thresholds.fidelity), not for accuracy or training on labels.';

/** The description of a pass entry. */
export const PASS_ENTRY_DESCRIPTION = 'One pass: a map with a single key, the pass name.';
