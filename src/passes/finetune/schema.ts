import type { OptionsSchema } from '../define.js';
import { teacherSchema } from '../teacher/index.js';

/** The finetune pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    'Train the current model further on data.train (a layers model), e.g. to recover accuracy after a lossy pass: on its labels, or from a teacher (the baseline by default when data.train has none). Its output is float32.',
  type: 'object',
  additionalProperties: false,
  properties: {
    epochs: {
      description: 'Passes over data.train (default 1).',
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    },
    steps: {
      description: 'Stop after this many batches in all, even mid-epoch (default: no limit).',
      type: 'integer',
      minimum: 1,
    },
    batchSize: {
      description: 'Samples per optimizer step (default 64).',
      type: 'integer',
      minimum: 1,
      maximum: 65536,
    },
    learningRate: {
      description: 'Learning rate (default 0.0001: small, to refine rather than retrain).',
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 10,
    },
    optimizer: {
      description: 'Optimizer (default adam).',
      enum: ['adam', 'sgd', 'momentum'],
    },
    schedule: {
      description: "Learning-rate schedule over the run's batches, as model.train's.",
      $ref: '#/$defs/schedule',
    },
    seed: {
      description: 'Seed for shuffling (default 1).',
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    },
    ...teacherSchema('the model the entry before it received: with `prune → finetune`, the model before pruning'),
  },
};
