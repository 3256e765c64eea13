import type { JsonSchema } from '../../passes/index.js';

/** report.json's schema: identity and required keys. */
export const DOCUMENT: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://mcbuild.dev/schema/report.schema.json',
  title: 'mcbuild report.json',
  description:
    "What a build writes next to its output model (src/report/json.ts, type Report): the recipe, backend and package versions, each step's cache key, the baseline's and the result's metrics, each pass's statistics, the threshold checks and the verdict. It holds no timestamps, durations, absolute paths or measured timings, so the same recipe on the same backend writes the same bytes: measured latency and the measured value and text of latency threshold checks are in run.json beside it (schema/run.schema.json), and readers merge them back. Numbers JavaScript cannot write in JSON (NaN, Infinity: a metric that was not measured) appear as null.",
  type: 'object',
  additionalProperties: false,
  required: [
    'generator',
    'mcbuild',
    'recipe',
    'backend',
    'versions',
    'steps',
    'metrics',
    'passes',
    'thresholds',
    'verdict',
  ],
};
/** report.json's keys; `passes[].stats` is refined per pass from the definitions (./index.ts). */
export const KEYS: JsonSchema = {
  generator: {
    description: 'Always "mcbuild": what wrote the file.',
    const: 'mcbuild',
  },
  mcbuild: {
    description: 'Version of mcbuild that wrote the report (part of every step key).',
    type: 'string',
    minLength: 1,
  },
  recipe: {
    description: 'The recipe built.',
    type: 'object',
    additionalProperties: false,
    required: ['name', 'file'],
    properties: {
      name: {
        description: "The recipe's `name`.",
        type: 'string',
      },
      file: {
        description: 'The recipe file, relative to the project root, with forward slashes.',
        type: 'string',
      },
    },
  },
  variant: {
    description: 'Set for one variant of a matrix sweep: its name and the matrix values it was built with.',
    type: 'object',
    additionalProperties: false,
    required: ['name', 'values'],
    properties: {
      name: {
        description: 'The variant\'s name, e.g. "sparsity=0.5,bits=8".',
        type: 'string',
      },
      values: {
        description: 'The matrix value of each matrix key for this variant.',
        type: 'object',
        additionalProperties: {
          description: 'One matrix value (any JSON value the matrix lists).',
        },
      },
    },
  },
  backend: {
    description: 'The TF.js backend the build ran on: tensorflow, wasm or cpu.',
    type: 'string',
  },
  versions: {
    description:
      "Versions of the packages the build's results depend on (TF.js packages, kernels, datasets), by package name.",
    type: 'object',
    additionalProperties: {
      description: 'The version of that package, or "missing".',
      type: 'string',
    },
  },
  steps: {
    description: "The plan's steps in order: baseline, its evaluation, one per pass, the result's evaluation.",
    type: 'array',
    items: {
      description: 'One step of the plan.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'title', 'key'],
      properties: {
        id: {
          description: 'The step\'s id, e.g. "baseline", "pass-1-quantize", "eval-result".',
          type: 'string',
        },
        title: {
          description: 'What the step does, as the terminal shows it.',
          type: 'string',
        },
        key: {
          description: "The step's cache key: a SHA-256 over every input of the step (hex).",
          type: 'string',
          pattern: '^[0-9a-f]{64}$',
        },
      },
    },
  },
  metrics: {
    description: 'What the evaluation steps measured on the baseline and on the result.',
    type: 'object',
    additionalProperties: false,
    required: ['baseline', 'result'],
    properties: {
      baseline: {
        description: 'The model before any pass.',
        $ref: '#/$defs/metrics',
      },
      result: {
        description: 'The model after every pass: the output.',
        $ref: '#/$defs/metrics',
      },
      latencyComparison: {
        description:
          "Only in reports written before run.json existed (builds now write it to run.json's latency.comparison): baseline and result timed interleaved in one run by the latency step.",
        $ref: '#/$defs/latencyComparison',
      },
    },
  },
  size: {
    description:
      'The source model as stored, the same with every weight as float32, and the output (model.json plus weight shards, raw bytes). A build whose output is bigger than its source also says so in `warnings`. Absent in reports written before mcbuild wrote it.',
    type: 'object',
    additionalProperties: false,
    required: ['sourceBytes', 'float32Bytes', 'outputBytes'],
    properties: {
      sourceBytes: {
        description: 'The source (baseline) model as stored: quantized weights count their stored bytes.',
        type: 'integer',
        minimum: 0,
      },
      float32Bytes: {
        description:
          "The source's model.json plus 4 bytes per parameter: what it weighs with every weight decoded to float32.",
        type: 'integer',
        minimum: 0,
      },
      outputBytes: {
        description: 'The output model as written.',
        type: 'integer',
        minimum: 0,
      },
    },
  },
  warnings: {
    description:
      'What the build warned about, one line each as printed: a pass whose work was legitimately empty (fold-batchnorm on a model without batch normalization), an output bigger than its source. Absent in reports written before mcbuild recorded them.',
    type: 'array',
    items: {
      description: 'One warning line.',
      type: 'string',
    },
  },
  passes: {
    description: "Each pass step's statistics, in the plan's order.",
    type: 'array',
    items: {
      description: 'One pass step.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'stats'],
      properties: {
        id: {
          description: 'The pass step\'s id, e.g. "pass-1-quantize".',
          type: 'string',
        },
        stats: {
          description:
            'What the pass did, in its own terms (weights quantized, sparsity reached, losses): free-form per pass, null when the pass reported nothing.',
        },
        changed: {
          description:
            "What the pass changed, comparing its output's weights with its input's by name: a tensor whose stored form or bytes differ, a new one or a removed one counts (a layer a structural pass replaced counts its tensors). Absent for steps cached before mcbuild counted them.",
          type: 'object',
          additionalProperties: false,
          required: ['tensors', 'params', 'totalTensors', 'totalParams'],
          properties: {
            tensors: {
              description: 'Tensors changed, added or removed.',
              type: 'integer',
              minimum: 0,
            },
            params: {
              description: 'Values of those tensors (a removed tensor counts the values it had).',
              type: 'integer',
              minimum: 0,
            },
            totalTensors: {
              description: "Tensors of the pass's output.",
              type: 'integer',
              minimum: 0,
            },
            totalParams: {
              description: "Values of the pass's output.",
              type: 'integer',
              minimum: 0,
            },
            keptStoredForm: {
              description:
                'Tensors the pass re-wrote unchanged (or only re-encoded into a larger form) that keep the form the input stored them in, e.g. uint8 from tensorflowjs_converter.',
              type: 'integer',
              minimum: 1,
            },
            changedInSourceForm: {
              description:
                "Changed tensors whose new values all lie on the input's quantization grid (pruned zeros on a uint8 grid), stored in that form.",
              type: 'integer',
              minimum: 1,
            },
          },
        },
        overridden: {
          description: 'Set when the pass has per-layer overrides: each layer an override touched.',
          type: 'array',
          items: {
            description: 'One layer an override touched.',
            type: 'object',
            additionalProperties: false,
            required: ['layer', 'setBy'],
            properties: {
              layer: {
                description: "The layer's name in the model.",
                type: 'string',
              },
              skip: {
                description: 'The override skips this layer (the pass leaves it as it is).',
                const: true,
              },
              options: {
                description: 'The options applied to this layer, as written in the recipe (absent when skipped).',
                type: 'object',
              },
              setBy: {
                description:
                  'For each option (or `skip`), where in the recipe it was set, e.g. "passes[0].quantize.layers[1].bits".',
                type: 'object',
                additionalProperties: {
                  description: 'A place in the recipe.',
                  type: 'string',
                },
              },
            },
          },
        },
      },
    },
  },
  thresholds: {
    description: "One check per threshold set in the recipe's `thresholds`, in a fixed order; empty when none are set.",
    type: 'array',
    items: {
      $ref: '#/$defs/check',
    },
  },
  verdict: {
    description: 'pass when every check passed (or none is set), else fail.',
    enum: ['pass', 'fail'],
  },
};
