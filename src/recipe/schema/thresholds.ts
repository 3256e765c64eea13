import type { JsonSchema } from './types.js';

/** The description of `thresholds.metrics`, whose properties are the named metrics. */
/** The fidelity limits, for every output (`thresholds.fidelity`) or one (`thresholds.fidelity.outputs.<name>`). */
const FIDELITY_LIMITS: Record<string, JsonSchema> = {
  minAgreement: {
    description:
      "Smallest allowed fraction of samples on which the result predicts the baseline's top-1 class (e.g. 0.99). Distribution outputs only.",
    type: 'number',
    minimum: 0,
    maximum: 1,
  },
  minTopKAgreement: {
    description:
      "Smallest allowed fraction of samples on which the baseline's top-1 class is among the result's k highest, k = min(5, classes − 1). Distribution outputs of more than 2 classes only.",
    type: 'number',
    minimum: 0,
    maximum: 1,
  },
  maxMeanKl: {
    description:
      'Largest allowed mean KL divergence KL(baseline ‖ result) of the output distributions, in nats (a classifier output that gives logits goes through a softmax first). Distribution outputs only.',
    type: 'number',
    minimum: 0,
  },
  minCosine: {
    description:
      "Smallest allowed mean cosine similarity between a sample's baseline and result output vectors (e.g. 0.99 for an embedding). Outputs more than one value wide.",
    type: 'number',
    minimum: -1,
    maximum: 1,
  },
  maxMeanRelError: {
    description:
      "Largest allowed mean |result − baseline| over every output value, relative to the range of the baseline's values of that output (max − min).",
    type: 'number',
    minimum: 0,
  },
  maxRelError: {
    description:
      "Largest allowed |result − baseline| of any single output value, relative to the range of the baseline's values of that output.",
    type: 'number',
    minimum: 0,
  },
};

export const METRICS_DESCRIPTION =
  "Limits on any named metric of the result, one vocabulary for all: `min` / `max` bound the result's value; `maxDrop` / `maxRelativeDrop` limit the fall of a higher-is-better metric against the baseline; `minRatio` asks a lower-is-better metric to shrink at least that many times (baseline / result). The blocks above are shorthands for the most common ones.";

/** `thresholds`: the gate's shorthand blocks; `thresholds.metrics` is generated from the named metrics (src/language/). */
export const THRESHOLDS: JsonSchema = {
  description:
    'The gate: a missed threshold fails the build with exit code 1. Thresholds are not part of any step key, so editing one re-gates from cache.',
  type: 'object',
  additionalProperties: false,
  properties: {
    accuracy: {
      description:
        'Top-1 accuracy of the result on `data.eval`, compared with the baseline measured on the same samples.',
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        maxDrop: {
          description: 'Largest allowed absolute drop, e.g. 0.01 = one percentage point.',
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        maxRelativeDrop: {
          description: 'Largest allowed drop relative to the baseline, e.g. 0.02 = 2% of the baseline accuracy.',
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        min: {
          description: 'Smallest allowed accuracy of the result, from 0 to 1.',
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        perClassMaxDrop: {
          description:
            "Largest allowed drop of any single class's accuracy against the baseline's accuracy on that class (e.g. 0.03): a compression can hurt one class while the mean hides it.",
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        topKMaxDrop: {
          description: 'Largest allowed absolute drop of top-k accuracy (k = min(5, classes - 1)).',
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        significance: {
          description:
            'Judge `maxDrop` statistically on the paired outcomes of baseline and result (the same samples), so the gate fails on evidence rather than noise: with `reading: significant` (default) it fails only when the drop is shown, at `level`, to exceed maxDrop; with `strict` it passes only when the drop is shown to be within it. `test: bootstrap` (paired percentile bootstrap of the accuracy difference, seeded) takes any maxDrop; `test: mcnemar` (exact or chi-square McNemar) tests maxDrop 0 only.',
          type: 'object',
          additionalProperties: false,
          required: ['test'],
          properties: {
            test: {
              description: 'mcnemar (maxDrop 0) or bootstrap (any maxDrop).',
              enum: ['mcnemar', 'bootstrap'],
            },
            level: {
              description: 'Confidence level, default 0.95.',
              type: 'number',
              exclusiveMinimum: 0.5,
              exclusiveMaximum: 1,
            },
            reading: {
              description:
                'significant (default): fail only when significantly worse than allowed; strict: pass only when shown within the limit.',
              enum: ['significant', 'strict'],
            },
          },
        },
      },
    },
    size: {
      description:
        'Size of the output model: model.json plus weight shards, in bytes on disk, or over the wire with gzip or brotli.',
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        maxBytes: {
          $ref: '#/$defs/byteSize',
          description: 'Largest allowed size: a number of bytes or a string such as 300kB, 1.5MB, 2MiB.',
        },
        maxGzipBytes: {
          $ref: '#/$defs/byteSize',
          description:
            'Largest allowed transfer size with gzip: the sum of the gzip (level 9) sizes of model.json and each weight shard, compressed one file at a time as a web server sends them. A number of bytes or a string such as 250kB.',
        },
        maxBrotliBytes: {
          $ref: '#/$defs/byteSize',
          description:
            'Largest allowed transfer size with brotli: the sum of the brotli (quality 5) sizes of model.json and each weight shard, compressed one file at a time. A number of bytes or a string such as 250kB.',
        },
        minRatio: {
          description: 'Smallest allowed compression ratio, baseline size / result size (e.g. 3.5).',
          type: 'number',
          exclusiveMinimum: 0,
        },
      },
    },
    // Generated from the named metrics (src/language/schema.ts); kept here for its place among the keys.
    metrics: { description: METRICS_DESCRIPTION },
    latency: {
      description:
        'Latency of the result against the baseline, both timed interleaved in one run (pairs in ABBA order on the same inputs, after warm-up) by a `latency` step that runs only when this is set: absolute times measured at different moments drift on shared machines, a ratio measured side by side does not. Batch sizes, pairs and warm-up come from `runtime.latency`.',
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        minRatio: {
          description:
            'Smallest allowed speed-up, baseline time / result time at `percentile` (1 = no slower; 0.9 = at most about 11% slower; 1.5 = at least 1.5x faster).',
          type: 'number',
          exclusiveMinimum: 0,
        },
        maxMs: {
          description:
            'Largest allowed result time in milliseconds per forward pass at `percentile`, from the interleaved run. Machine-dependent: prefer minRatio in CI.',
          type: 'number',
          exclusiveMinimum: 0,
        },
        batchSize: {
          description:
            'Batch size the thresholds apply to; one of `runtime.latency.batchSizes` (default batch sizes 1 and 32; default 1, or the first size measured).',
          type: 'integer',
          minimum: 1,
        },
        percentile: {
          description: '50 (the median, default) or 95 (the slow tail).',
          enum: [50, 95],
        },
        significance: {
          description:
            'Judge minRatio on the paired bootstrap interval of the ratio (whole pairs resampled, seeded) instead of the point estimate: with `reading: significant` (default) fail only when the result is shown, at `level`, to be slower than allowed; with `strict` pass only when shown to be within it.',
          type: 'object',
          additionalProperties: false,
          properties: {
            level: {
              description: 'Confidence level, default 0.95.',
              type: 'number',
              exclusiveMinimum: 0.5,
              exclusiveMaximum: 1,
            },
            reading: {
              description:
                'significant (default): fail only when significantly slower than allowed; strict: pass only when shown within the limit.',
              enum: ['significant', 'strict'],
            },
          },
        },
      },
    },
    fidelity: {
      description:
        'Fidelity of the result to the baseline on the same `data.eval` samples; needs no labels. Each limit here holds for every output measured (the worst output decides); `outputs` sets limits for one output by name. Classifier limits (minAgreement, minTopKAgreement, maxMeanKl) read outputs whose rows are class distributions (softmax outputs, or the first output with labelled data); distance limits read every output.',
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        ...FIDELITY_LIMITS,
        outputs: {
          description:
            'Limits for single outputs, by name (as `model.outputs` names them): `{ <output>: { minCosine: 0.99 } }`.',
          type: 'object',
          minProperties: 1,
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: FIDELITY_LIMITS,
          },
        },
      },
    },
    params: {
      $ref: '#/$defs/countThreshold',
      description: 'Parameters of the result (every weight, zeros included).',
    },
    nonZeroParams: {
      $ref: '#/$defs/countThreshold',
      description: 'Parameters of the result that are not exactly zero: what pruning removes.',
    },
    macs: {
      $ref: '#/$defs/countThreshold',
      description: 'Multiply-accumulates per sample of the result, from its topology (layers models only).',
    },
    flops: {
      $ref: '#/$defs/countThreshold',
      description: 'Floating-point operations per sample of the result, from its topology (layers models only).',
    },
  },
};

/** A limit on a count of the result (params, MACs, ...). */
export const COUNT_THRESHOLD: JsonSchema = {
  description:
    'Limits on a count of the result model: `max` (at most this many) and `minRatio` (at least this many times fewer than the baseline).',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    max: {
      description: 'Largest allowed count for the result.',
      type: 'integer',
      minimum: 0,
    },
    minRatio: {
      description: 'Smallest allowed ratio baseline / result, e.g. 4 = at least 4x fewer.',
      type: 'number',
      exclusiveMinimum: 0,
    },
  },
};
/** A size in bytes: a number, or a string such as "300kB". */
export const BYTE_SIZE: JsonSchema = {
  oneOf: [
    {
      type: 'integer',
      minimum: 1,
    },
    {
      type: 'string',
      pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]|[bB])?\\s*$',
    },
  ],
};
