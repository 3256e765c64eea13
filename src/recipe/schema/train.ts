import type { JsonSchema } from './types.js';

/** `model.train` (and the shape distill students reuse). */
export const TRAIN: JsonSchema = {
  description:
    'Train a builtin architecture as the baseline. The trained model is cached under its key like any other step.',
  type: 'object',
  additionalProperties: false,
  required: ['architecture'],
  properties: {
    architecture: {
      description:
        'Builtin architecture: mlp (LeNet-300-100 style), lenet5 (LeNet-5), mobilenet-v1, mobilenet-v2 (both sized for 28×28 inputs).',
      enum: ['mlp', 'lenet5', 'mobilenet-v1', 'mobilenet-v2'],
    },
    options: {
      description:
        'Architecture options. mlp: hidden. lenet5: filters, hidden. mobilenet-v1: alpha, depthMultiplier, depth. mobilenet-v2: alpha, expansion, lastChannels.',
      type: 'object',
    },
    dataset: {
      description: 'Dataset to train on (its train split). Default: data.train, else mnist.',
      enum: ['mnist'],
    },
    limit: {
      description: 'Train on only the first N training samples.',
      type: 'integer',
      minimum: 1,
    },
    epochs: {
      description: 'Passes over the training data (default 3).',
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    },
    batchSize: {
      description: 'Samples per optimizer step (default 64).',
      type: 'integer',
      minimum: 1,
      maximum: 65536,
    },
    learningRate: {
      description: 'Optimizer learning rate (default 0.001).',
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 10,
    },
    optimizer: {
      description: 'Optimizer (default adam).',
      enum: ['adam', 'sgd', 'momentum'],
    },
    seed: {
      description: 'Seed for weight initialisation and shuffling (default 1). Same seed, same backend: same weights.',
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    },
    schedule: {
      $ref: '#/$defs/schedule',
    },
  },
  allOf: [
    {
      type: 'object',
      if: {
        properties: {
          architecture: {
            const: 'mlp',
          },
        },
        required: ['architecture'],
      },
      then: {
        properties: {
          options: {
            type: 'object',
            additionalProperties: false,
            properties: {
              hidden: {
                description: 'mlp: sizes of the hidden Dense layers (default [300, 100]).',
                type: 'array',
                minItems: 1,
                maxItems: 8,
                items: {
                  type: 'integer',
                  minimum: 1,
                  maximum: 8192,
                },
              },
            },
          },
        },
      },
    },
    {
      type: 'object',
      if: {
        properties: {
          architecture: {
            const: 'lenet5',
          },
        },
        required: ['architecture'],
      },
      then: {
        properties: {
          options: {
            type: 'object',
            additionalProperties: false,
            properties: {
              filters: {
                description: 'lenet5: filters of conv_1 and conv_2 (default [6, 16]).',
                type: 'array',
                minItems: 2,
                maxItems: 2,
                items: {
                  type: 'integer',
                  minimum: 1,
                  maximum: 1024,
                },
              },
              hidden: {
                description: 'lenet5: sizes of the Dense layers after the convolutions (default [120, 84]).',
                type: 'array',
                minItems: 1,
                maxItems: 8,
                items: {
                  type: 'integer',
                  minimum: 1,
                  maximum: 8192,
                },
              },
              padding: {
                description:
                  "lenet5: padding of conv_1: same (default; LeCun's LeNet-5 on 32×32 inputs, 28×28 feature maps) or valid (the Caffe LeNet of Deep Compression: with filters [20, 50] and hidden [500], 431,080 parameters).",
                enum: ['same', 'valid'],
              },
            },
          },
        },
      },
    },
    {
      type: 'object',
      if: {
        properties: {
          architecture: {
            const: 'mobilenet-v1',
          },
        },
        required: ['architecture'],
      },
      then: {
        properties: {
          options: {
            type: 'object',
            additionalProperties: false,
            properties: {
              alpha: {
                description: "Width multiplier: scales every layer's channel count (default 0.5).",
                type: 'number',
                minimum: 0.125,
                maximum: 4,
              },
              depthMultiplier: {
                description: 'Channel multiplier of the depthwise convolutions (default 1).',
                type: 'integer',
                minimum: 1,
                maximum: 4,
              },
              depth: {
                description:
                  "Extra 512α-channel blocks at the lowest resolution (default 1; the paper's network has 5).",
                type: 'integer',
                minimum: 0,
                maximum: 8,
              },
            },
          },
        },
      },
    },
    {
      type: 'object',
      if: {
        properties: {
          architecture: {
            const: 'mobilenet-v2',
          },
        },
        required: ['architecture'],
      },
      then: {
        properties: {
          options: {
            type: 'object',
            additionalProperties: false,
            properties: {
              alpha: {
                description: "Width multiplier: scales every layer's channel count (default 0.5).",
                type: 'number',
                minimum: 0.125,
                maximum: 4,
              },
              expansion: {
                description: 'Expansion factor t of the inverted residual blocks (default 6).',
                type: 'integer',
                minimum: 1,
                maximum: 10,
              },
              lastChannels: {
                description: 'Channels of the last 1×1 convolution (default 256).',
                type: 'integer',
                minimum: 8,
                maximum: 2048,
              },
            },
          },
        },
      },
    },
  ],
};
/** A learning-rate schedule, shared by every training run. */
export const SCHEDULE: JsonSchema = {
  description: "Learning-rate schedule over the run's batches (default constant).",
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: {
      description:
        'constant: the learning rate throughout; cosine: cosine decay to minLearningRate at the last batch; step: multiply by gamma every stepEpochs epochs.',
      enum: ['constant', 'cosine', 'step'],
    },
    warmupBatches: {
      description: 'Batches of linear warm-up from 0 to the learning rate (default 0).',
      type: 'integer',
      minimum: 0,
    },
    minLearningRate: {
      description: 'cosine: the learning rate reached at the end (default 0).',
      type: 'number',
      minimum: 0,
    },
    stepEpochs: {
      description: 'step: epochs between decays (default 1).',
      type: 'integer',
      minimum: 1,
    },
    gamma: {
      description: 'step: the factor applied at each decay (default 0.5).',
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
    },
  },
};
