import type { KindSchema } from './kind.js';

/** The keys of a `dataset: npz` entry in a recipe (src/language/schema.ts puts them into the recipe schema). */
export const SCHEMA: KindSchema = {
  summary: 'named arrays of one NumPy .npz archive (`path`, `x`, `y`).',
  required: ['path'],
  properties: {
    path: {
      description: 'The .npz archive (np.savez or np.savez_compressed), relative to this recipe file.',
      type: 'string',
      minLength: 1,
    },
    x: {
      description: "Name of the inputs' array in the archive (default x): shape [N, ...input shape].",
      type: 'string',
      minLength: 1,
    },
    y: {
      description:
        "Name of the labels' array: [N] class indices or [N, C] one-hot (default y when the archive has an array y; without one the data are label-free).",
      type: 'string',
      minLength: 1,
    },
    labels: {
      description: '`false`: ignore the labels even when the archive has them (a fidelity-only evaluation).',
      const: false,
    },
    limit: {
      description:
        'Read only the first N samples. Image folders are read class-interleaved (the first file of every class in label order, then the second, ...), so any prefix is class-balanced; arrays are read in their stored order.',
      type: 'integer',
      minimum: 1,
    },
    numClasses: {
      description:
        'Number of classes when `y` holds class indices (default: the largest label + 1, or the width of a one-hot `y`).',
      type: 'integer',
      minimum: 1,
      maximum: 65536,
    },
    scale: {
      description:
        'Raw values are multiplied by this (default 1); inputs are (raw·scale + offset − mean[c]) / std[c], c the channel (last axis).',
      type: 'number',
    },
    offset: {
      description:
        'Added after `scale` (default 0): `scale: 0.00784313725490196, offset: -1` maps pixels 0..255 to [-1, 1].',
      type: 'number',
    },
    mean: {
      description:
        "Subtracted per channel after scale and offset: one value per channel, or one for all (e.g. ImageNet's [0.485, 0.456, 0.406] with the default scale 1/255). Default: none.",
      type: 'array',
      minItems: 1,
      items: {
        type: 'number',
      },
    },
    std: {
      description:
        'Divides per channel after `mean` is subtracted: one value per channel, or one for all (e.g. [0.229, 0.224, 0.225]). Default: none.',
      type: 'array',
      minItems: 1,
      items: {
        type: 'number',
        exclusiveMinimum: 0,
      },
    },
  },
};
