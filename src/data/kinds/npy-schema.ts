import type { KindSchema } from './kind.js';
import { normalisationProperties } from './normalisation-schema.js';
import { preprocessProperty } from './preprocess-schema.js';

/** The keys of a `dataset: npy` entry in a recipe (src/language/schema.ts puts them into the recipe schema). */
export const SCHEMA: KindSchema = {
  summary: 'NumPy .npy files (`x`, `y`).',
  required: ['x'],
  properties: {
    x: {
      description:
        "The inputs' .npy file, relative to this recipe file: shape [N, ...input shape], any of the dtypes u1 i1 u2 i2 u4 i4 u8 i8 f2 f4 f8 (either byte order, C order).",
      type: 'string',
      minLength: 1,
    },
    y: {
      description:
        "The labels' .npy file: [N] integer class indices (or bool), or [N, C] one-hot. Omit it for label-free data.",
      type: 'string',
      minLength: 1,
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
    ...normalisationProperties('1'),
    ...preprocessProperty('1'),
  },
};
