import type { JsonSchema } from '../../passes/index.js';

/** $defs/setting */
export const Setting: JsonSchema = {
  description: 'A value of the searched option (a number of bits, a dtype name).',
  type: ['string', 'number'],
};
/** $defs/count */
export const Count: JsonSchema = {
  description: 'A count: zero or more.',
  type: 'integer',
  minimum: 0,
};
/** $defs/fraction */
export const Fraction: JsonSchema = {
  description: 'A fraction from 0 to 1.',
  type: 'number',
  minimum: 0,
  maximum: 1,
};
/** $defs/timedSide */
export const TimedSide: JsonSchema = {
  description: "One model's timed passes at one batch size of the interleaved run.",
  type: 'object',
  additionalProperties: false,
  required: ['medianMs', 'p95Ms', 'minMs', 'samplesMs'],
  properties: {
    medianMs: {
      description: 'Median milliseconds per forward pass.',
      type: 'number',
      minimum: 0,
    },
    p95Ms: {
      description: '95th percentile (nearest rank), milliseconds.',
      type: 'number',
      minimum: 0,
    },
    minMs: {
      description: 'Fastest pass.',
      type: 'number',
      minimum: 0,
    },
    samplesMs: {
      description: 'Every timed pass in run order; pair i of the baseline was timed next to pair i of the result.',
      type: 'array',
      items: {
        type: 'number',
        minimum: 0,
      },
    },
  },
};
/** $defs/latencyComparison */
export const LatencyComparison: JsonSchema = {
  description: 'Baseline and result timed in turn.',
  type: 'object',
  additionalProperties: false,
  required: ['order', 'batches', 'warmupRuns', 'level', 'resamples', 'backend', 'measuredAt', 'cores', 'cpu'],
  properties: {
    order: {
      description: 'ABBA: the baseline runs first in even pairs, the result in odd ones.',
      const: 'ABBA',
    },
    batches: {
      description: 'Each batch size timed.',
      type: 'array',
      items: {
        description: 'One batch size.',
        type: 'object',
        additionalProperties: false,
        required: ['batchSize', 'runs', 'baseline', 'result', 'ratio', 'p95Ratio', 'interval', 'p95Interval'],
        properties: {
          batchSize: {
            description: 'Samples per forward pass.',
            type: 'integer',
            minimum: 1,
          },
          runs: {
            description: 'Timed pairs.',
            type: 'integer',
            minimum: 1,
          },
          baseline: {
            description: "The baseline's timed passes.",
            $ref: '#/$defs/timedSide',
          },
          result: {
            description: "The result's timed passes.",
            $ref: '#/$defs/timedSide',
          },
          ratio: {
            description: 'Baseline median / result median: the speed-up (above 1 the result is faster).',
            type: 'number',
          },
          p95Ratio: {
            description: 'Baseline p95 / result p95.',
            type: 'number',
          },
          interval: {
            description: 'Paired bootstrap interval of ratio at `level`.',
            type: 'array',
            items: {
              type: 'number',
            },
            minItems: 2,
            maxItems: 2,
          },
          p95Interval: {
            description: 'Paired bootstrap interval of p95Ratio at `level`.',
            type: 'array',
            items: {
              type: 'number',
            },
            minItems: 2,
            maxItems: 2,
          },
        },
      },
    },
    warmupRuns: {
      description: 'Untimed passes of each model per batch size before timing.',
      $ref: '#/$defs/count',
    },
    level: {
      description: 'Confidence level of the intervals.',
      type: 'number',
    },
    resamples: {
      description: 'Bootstrap resamples.',
      $ref: '#/$defs/count',
    },
    backend: {
      description: 'The TF.js backend timed on.',
      type: 'string',
    },
    measuredAt: {
      description: 'When the latency step ran (ISO 8601).',
      type: 'string',
      format: 'date-time',
    },
    cores: {
      description: 'Logical cores of the machine.',
      type: 'integer',
      minimum: 1,
    },
    cpu: {
      description: "The machine's CPU model.",
      type: 'string',
    },
  },
};
/** $defs/check */
export const Check: JsonSchema = {
  description:
    "One threshold check (src/gate/check.ts, type Check). A latency check (latency.*) holds only name, pass and limit here: its measured value and text depend on the machine and are in run.json's `thresholds`; every other check has all five.",
  type: 'object',
  additionalProperties: false,
  required: ['name', 'pass', 'limit'],
  properties: {
    name: {
      description: 'The threshold as written in the recipe: group.key, e.g. accuracy.maxDrop, size.minRatio.',
      type: 'string',
      pattern: '^[A-Za-z]+\\.[A-Za-z0-9]+$',
    },
    pass: {
      description: 'The threshold holds.',
      type: 'boolean',
    },
    measured: {
      description:
        "What was measured, in the threshold's unit; null when it was not measured (NaN) or is unbounded (Infinity).",
      type: ['number', 'null'],
    },
    limit: {
      description: "The threshold's value from the recipe.",
      type: 'number',
    },
    text: {
      description: 'One line a person reads: what was measured against what.',
      type: 'string',
    },
  },
};
