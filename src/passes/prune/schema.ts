import type { OptionsSchema } from '../define.js';
import { teacherSchema } from '../teacher/index.js';
import { SCHEDULE_DEFAULTS } from './options.js';

/** The prune pass's options, as a recipe writes them (defaults are added from defaultOptions; the schedule's are here). */
export const schema: OptionsSchema = {
  description:
    'Set kernel weights of Dense, Conv2D and DepthwiseConv2D layers (never biases or batch-norm parameters) to zero by magnitude: a fraction (`sparsity`), N of every M (`pattern`), or gradually while training (`schedule`). Exactly one of sparsity and pattern. Its output is float32; a later finetune keeps the zeros.',
  type: 'object',
  additionalProperties: false,
  properties: {
    method: {
      description: 'How weights are ranked: magnitude, the smallest |w| go first (default).',
      enum: ['magnitude'],
    },
    sparsity: {
      description:
        'Fraction of the weights set to zero, in [0, 1): exactly round(sparsity · n) of them per kernel (scope layer) or over all kernels (scope global).',
      type: 'number',
      minimum: 0,
      exclusiveMaximum: 1,
    },
    scope: {
      description:
        'layer: one threshold per kernel, each kernel reaches the sparsity (default); global: one threshold over all kernels, magnitudes compared across layers.',
      enum: ['layer', 'global'],
    },
    pattern: {
      description:
        'N:M sparsity, e.g. "2:4" (NVIDIA\'s): in every group of M consecutive weights along a kernel\'s input dimension the N largest stay. M must divide the input dimension of every Dense and Conv2D layer; depthwise kernels are left alone. Instead of sparsity.',
      type: 'string',
      pattern: '^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$',
    },
    schedule: {
      description:
        'Gradual pruning (Zhu & Gupta): train on data.train for `steps` batches while sparsity rises from initialSparsity to `sparsity` as s_t = s_f + (s_i - s_f)(1 - t/steps)^power, re-pruning every `frequency` steps; pruned weights stay zero throughout. Without it pruning is one-shot and reads no data.',
      type: 'object',
      additionalProperties: false,
      required: ['steps'],
      properties: {
        kind: {
          description: 'Shape of the schedule: polynomial (default).',
          enum: ['polynomial'],
          default: SCHEDULE_DEFAULTS.kind,
        },
        power: {
          description: 'Exponent of the polynomial (default 3: prune fast early, slowly near the end).',
          type: 'number',
          default: SCHEDULE_DEFAULTS.power,
          exclusiveMinimum: 0,
          maximum: 100,
        },
        steps: {
          description: 'Training batches over which sparsity rises to its final value.',
          type: 'integer',
          minimum: 1,
        },
        frequency: {
          description: 'Batches between pruning steps (default a tenth of steps, at least 1).',
          type: 'integer',
          minimum: 1,
        },
        initialSparsity: {
          description: 'Sparsity at the start of the schedule (default 0).',
          type: 'number',
          default: SCHEDULE_DEFAULTS.initialSparsity,
          minimum: 0,
          exclusiveMaximum: 1,
        },
      },
    },
    learningRate: {
      description: 'With schedule: learning rate (default 0.0001).',
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 10,
    },
    batchSize: {
      description: 'With schedule: samples per optimizer step (default 64).',
      type: 'integer',
      minimum: 1,
      maximum: 65536,
    },
    optimizer: {
      description: 'With schedule: optimizer (default adam).',
      enum: ['adam', 'sgd', 'momentum'],
    },
    seed: {
      description: 'With schedule: seed for shuffling (default 1).',
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    },
    ...teacherSchema('the model it receives, before it prunes', 'With schedule: '),
  },
};
