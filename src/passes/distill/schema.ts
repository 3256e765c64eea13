import type { OptionsSchema } from '../define.js';

/** The distill pass's options, as a recipe writes them (defaults are added from defaultOptions). */
export const schema: OptionsSchema = {
  description:
    "Knowledge distillation (Hinton et al. 2015): train a new student of a builtin architecture on data.train from the current model (the teacher) and the labels, with loss alpha·CE(labels) + (1 − alpha)·T²·KL(teacher ‖ student), both softened by the temperature T. The teacher runs once over data.train; its soft targets are reused every epoch. The student's output must match the teacher's classes. Its output is the student, float32.",
  type: 'object',
  additionalProperties: false,
  required: ['student'],
  properties: {
    student: {
      description:
        "The student: a builtin architecture with options (`{ architecture: mlp, options: { hidden: [100] } }`), or the teacher's own architecture with its widths scaled (`{ width: 0.5 }`: mlp hidden units, lenet5 filters and hidden units, MobileNet alpha), which needs a teacher trained by `model.train` (or built by an earlier distill).",
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        architecture: {
          description: 'Builtin architecture of the student, as in model.train.architecture.',
          $ref: '#/$defs/train/properties/architecture',
        },
        options: {
          description: "Options of the student's architecture, as in model.train.options.",
          type: 'object',
        },
        width: {
          description:
            "Scale the teacher's own builtin architecture by this width multiplier (0.5: half the units or channels per layer, each rounded, at least 1). Not with architecture or options.",
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 4,
        },
      },
      allOf: [
        {
          $ref: '#/$defs/train/allOf/0',
        },
        {
          $ref: '#/$defs/train/allOf/1',
        },
        {
          $ref: '#/$defs/train/allOf/2',
        },
        {
          $ref: '#/$defs/train/allOf/3',
        },
      ],
    },
    alpha: {
      description:
        'Weight of the cross-entropy on the hard labels; 1 − alpha weighs the soft (teacher) term (default 0.1: mostly the teacher, as Hinton et al. found best).',
      type: 'number',
      minimum: 0,
      maximum: 1,
    },
    temperature: {
      description:
        'Temperature T that softens teacher and student predictions in the soft term, softmax(logits / T); the soft term is scaled by T² so its gradients keep their size (default 4).',
      type: 'number',
      minimum: 1,
      maximum: 100,
    },
    epochs: {
      description: 'Passes over data.train (default 10: the student trains from scratch).',
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
      description: 'Learning rate (default 0.001, as model.train).',
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
      description: "Seed for the student's initial weights, shuffling and dropout (default 1).",
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    },
    compareAlone: {
      description:
        "Also train the same student (same seed, initial weights, batches and schedule) on the hard labels alone, and report the errors of teacher, student alone and distilled student on data.eval, and the share of the gap distillation closed, in the step's stats (report.json). It doubles the training time and does not change the output (default false).",
      type: 'boolean',
    },
  },
};
