import type { KindSchema } from './kind.js';
import { normalisationProperties } from './normalisation-schema.js';
import { preprocessProperty } from './preprocess-schema.js';

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
    ...normalisationProperties('1'),
    ...preprocessProperty('1'),
  },
};
