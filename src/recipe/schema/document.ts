import type { JsonSchema } from './types.js';

/** The recipe schema's top: identity and the required keys. */
export const DOCUMENT: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://mcbuild.dev/schema/recipe.schema.json',
  title: 'mcbuild recipe',
  description:
    'A model-compression recipe: the model to start from, the data to measure on, an ordered list of passes and the thresholds that gate the build.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'name', 'model', 'data'],
};
/** `version` */
export const VERSION_KEY: JsonSchema = {
  description: 'Recipe format version. Only 1 exists.',
  const: 1,
};
/** `name` */
export const NAME_KEY: JsonSchema = {
  description: 'Short name of the recipe, used in reports and as the default output folder name.',
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  maxLength: 100,
};
/** `description` */
export const DESCRIPTION_KEY: JsonSchema = {
  description: 'Free text shown in reports.',
  type: 'string',
  maxLength: 2000,
};
/** `extends` */
export const EXTENDS_KEY: JsonSchema = {
  description:
    "A base recipe (or several, merged in order) this one builds on, relative to this file. Maps merge key by key and this file wins; lists and values are replaced whole, except `overrides`, whose blocks are appended after the bases' blocks. `--set path=value` on the command line is applied last.",
  anyOf: [
    {
      type: 'string',
      minLength: 1,
    },
    {
      type: 'array',
      minItems: 1,
      items: {
        type: 'string',
        minLength: 1,
      },
    },
  ],
};
/** `model` */
export const MODEL_KEY: JsonSchema = {
  description:
    'Where the baseline model comes from: exactly one of `path` (a TF.js model.json) or `train` (a builtin architecture trained by mcbuild and cached like any other step).',
  type: 'object',
  additionalProperties: false,
  anyOf: [
    {
      properties: {
        path: true,
      },
      required: ['path'],
    },
    {
      properties: {
        train: true,
      },
      required: ['train'],
    },
  ],
  not: {
    properties: {
      path: true,
      train: true,
    },
    required: ['path', 'train'],
  },
  properties: {
    path: {
      description:
        'Path to a TF.js model.json (layers model or graph model) with its weight shards beside it, relative to this recipe file.',
      type: 'string',
      minLength: 1,
    },
    nonFinite: {
      description:
        'With `path`: what a NaN or infinite float weight in the model file does. `fail` (default): the build stops before running anything, naming the weight; `warn`: a warning is printed and the build goes on.',
      enum: ['fail', 'warn'],
    },
    outputs: {
      description:
        "With `path`: the model's outputs to measure and compare with the baseline, by name (a layers model's output layer names, a graph model's signature keys or output node names), in this order. Default: every output. With labelled data the first is the one accuracy reads.",
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
    },
    train: {
      $ref: '#/$defs/train',
    },
  },
};
/** `output` */
export const OUTPUT_KEY: JsonSchema = {
  description:
    'Folder the output model and report.json are written to, relative to this recipe file. Default: out/<name> at the project root.',
  type: 'string',
  minLength: 1,
};
/** `runtime` */
export const RUNTIME_KEY: JsonSchema = {
  description: 'How steps execute.',
  type: 'object',
  additionalProperties: false,
  properties: {
    backend: {
      description:
        'TF.js backend: auto picks tensorflow (tfjs-node or tfjs-node-gpu, when installed), else wasm, else cpu. The --backend flag overrides it.',
      enum: ['auto', 'tensorflow', 'wasm', 'cpu'],
    },
    threads: {
      description:
        'Threads the wasm backend computes on (its XNNPACK pool, at most 8). Results are bit-identical at any count, so it is in no step key. Default: the cores available (MCBUILD_THREADS overrides that default); the --threads flag overrides it.',
      type: 'integer',
      minimum: 1,
      maximum: 8,
    },
    latency: {
      description:
        'How eval steps measure latency (part of their key): batch sizes, a fixed number of timed runs, warm-up passes. Default: batch 1 and 32, 1 warm-up pass, 5 to 50 runs within 100 ms.',
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        batchSizes: {
          description: 'Batch sizes to time, e.g. [1, 8, 64].',
          type: 'array',
          minItems: 1,
          maxItems: 8,
          uniqueItems: true,
          items: {
            type: 'integer',
            minimum: 1,
            maximum: 4096,
          },
        },
        runs: {
          description: 'Exactly this many timed passes per batch size (default: 5 to 50, within a 100 ms budget).',
          type: 'integer',
          minimum: 1,
          maximum: 10000,
        },
        warmup: {
          description: 'Untimed passes per batch size before timing (default 1).',
          type: 'integer',
          minimum: 0,
          maximum: 1000,
        },
      },
    },
  },
};
/** `matrix` */
export const MATRIX_KEY: JsonSchema = {
  description:
    "A sweep: every combination of these values builds one variant of the recipe, written `${{ matrix.<name> }}` anywhere in the recipe (alone, the value keeps its type: `bits: ${{ matrix.bits }}`). Steps the variants share (the baseline, a common prefix of passes) are computed once. The report lists each variant's verdict and the Pareto front of size against accuracy.",
  type: 'object',
  minProperties: 1,
  propertyNames: {
    pattern: '^[A-Za-z_][A-Za-z0-9_-]*$',
  },
  additionalProperties: {
    type: 'array',
    minItems: 1,
    items: {
      anyOf: [
        {
          type: 'number',
        },
        {
          type: 'string',
        },
        {
          type: 'boolean',
        },
      ],
    },
  },
};
/** `gate` */
export const GATE_KEY: JsonSchema = {
  description:
    'With a matrix: `all` (default) fails the build (exit 1) when any variant misses a threshold; `best` passes when at least one variant passes.',
  enum: ['all', 'best'],
};
