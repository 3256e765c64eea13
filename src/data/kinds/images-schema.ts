import type { KindSchema } from './kind.js';
import { normalisationProperties } from './normalisation-schema.js';
import { preprocessProperty } from './preprocess-schema.js';

/** The keys of a `dataset: images` entry in a recipe (src/language/schema.ts puts them into the recipe schema). */
export const SCHEMA: KindSchema = {
  summary: 'a folder of PNG/JPEG files, one sub-folder per class (`path`).',
  required: ['path'],
  properties: {
    path: {
      description:
        'The image folder, relative to this recipe file: `class/xxx.png|jpg` (class = sub-folder name), optionally under `train/` and `test/` sub-folders; image files directly in it (no class folders): label-free data. Files are read in sorted order; names starting with a dot are skipped.',
      type: 'string',
      minLength: 1,
    },
    split: {
      description:
        'The `train/` or `test/` sub-folder to read when the folder has them (default test for data.eval, train otherwise); a folder without them is read whole.',
      enum: ['train', 'test'],
    },
    limit: {
      description:
        'Read only the first N samples. Image folders are read class-interleaved (the first file of every class in label order, then the second, ...), so any prefix is class-balanced; arrays are read in their stored order.',
      type: 'integer',
      minimum: 1,
    },
    size: {
      description:
        "[height, width] every image is resized to, bilinearly with half-pixel centres (TF's resizeBilinear with halfPixelCenters, not antialiased); default: the size of the first image. With image settings in `preprocess` (resize, order, pad), it is that block's `size` (antialiased): new recipes write it there.",
      type: 'array',
      minItems: 2,
      maxItems: 2,
      items: {
        type: 'integer',
        minimum: 1,
        maximum: 8192,
      },
    },
    channels: {
      description:
        'Channels of the model input: 1 (grey: 0.299 R + 0.587 G + 0.114 B), 3 (RGB; grey images are repeated) or 4 (RGBA; opaque when the image has no alpha). Alpha is dropped for 1 and 3. Default 3.',
      enum: [1, 3, 4],
    },
    classes: {
      description:
        "The class folders in label order (class i is the i-th name), to match the model's outputs; default: every sub-folder, sorted. Each must exist and hold images, and every sub-folder must be listed.",
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: {
        type: 'string',
        minLength: 1,
      },
    },
    labels: {
      description:
        '`false`: read no labels even when there are class folders (the images of all classes, interleaved), for a fidelity-only evaluation.',
      const: false,
    },
    ...normalisationProperties('1/255: pixels 0..255 become 0..1'),
    ...preprocessProperty('1/255: pixels 0..255 become 0..1'),
  },
};
