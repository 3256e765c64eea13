import type { JsonSchema } from '../../passes/index.js';

/** `search`: what an accuracy-driven search tried and chose. */
export const SEARCH: JsonSchema = {
  description:
    'For a recipe with an `auto` option: the accuracy-driven search (src/search/search.ts searchSummary): the scan, every trial and the chosen plan.',
  type: 'object',
  additionalProperties: false,
  required: ['pass', 'option', 'candidates', 'chosen', 'stoppedBecause', 'recipe', 'record', 'sensitivity', 'trials'],
  properties: {
    pass: {
      description: 'The pass entry searched.',
      type: 'object',
      additionalProperties: false,
      required: ['index', 'name'],
      properties: {
        index: {
          description: "Its index in the recipe's passes, from 0.",
          type: 'integer',
          minimum: 0,
        },
        name: {
          description: "The pass's name, e.g. quantize.",
          type: 'string',
        },
      },
    },
    option: {
      description: 'The option searched per layer, e.g. bits.',
      type: 'string',
    },
    candidates: {
      description: 'The values tried for the option, from the safest.',
      type: 'array',
      items: {
        $ref: '#/$defs/setting',
      },
    },
    chosen: {
      description:
        "The best passing plan's setting per layer (layers at the first candidate omitted); null when no plan passed.",
      anyOf: [
        {
          type: 'object',
          additionalProperties: {
            $ref: '#/$defs/setting',
          },
        },
        {
          type: 'null',
        },
      ],
    },
    fallback: {
      description: 'Set when no plan passed but some held every threshold other than size: why the fallback was built.',
      type: 'string',
    },
    fallbackTrial: {
      description: 'The trial number of the fallback plan.',
      type: 'integer',
    },
    fallbackSettings: {
      description: "The fallback plan's setting per layer.",
      type: 'object',
      additionalProperties: {
        $ref: '#/$defs/setting',
      },
    },
    stoppedBecause: {
      description: 'Why the search stopped, in words.',
      type: 'string',
    },
    recipe: {
      description: 'Where the searched plain recipe was written; null when no plan passed.',
      type: ['string', 'null'],
    },
    record: {
      description: 'Where the search record was written; null when no plan passed.',
      type: ['string', 'null'],
    },
    sensitivity: {
      description: 'The per-layer sensitivity scan the search started from.',
      type: 'object',
      additionalProperties: false,
      required: ['reference', 'layers'],
      properties: {
        reference: {
          description:
            'The recipe up to the searched pass with the pass skipped for every layer: what drops are measured against.',
          type: 'object',
          additionalProperties: false,
          required: ['accuracy', 'sizeBytes', 'gzipBytes'],
          properties: {
            accuracy: {
              description: 'Its accuracy, 0 to 1.',
              type: 'number',
            },
            sizeBytes: {
              description: 'Its raw size in bytes.',
              type: 'integer',
            },
            gzipBytes: {
              description: 'Its gzip transfer size in bytes.',
              type: 'integer',
            },
          },
        },
        stopped: {
          description: 'Set when the scan stopped at its deadline.',
          const: 'deadline',
        },
        layers: {
          description: 'Each layer scanned.',
          type: 'array',
          items: {
            description: "One layer's scan.",
            type: 'object',
            additionalProperties: false,
            required: ['layer', 'params', 'drops'],
            properties: {
              layer: {
                description: "The layer's name.",
                type: 'string',
              },
              params: {
                description: 'Its parameter count.',
                type: 'integer',
              },
              drops: {
                description:
                  'Accuracy drop against the reference for each candidate (by the candidate written as text).',
                type: 'object',
                additionalProperties: {
                  description: 'The drop, 0 to 1 (negative when accuracy rose).',
                  type: 'number',
                },
              },
            },
          },
        },
      },
    },
    trials: {
      description: 'Every full build the search ran, in order.',
      type: 'array',
      items: {
        description: 'One trial.',
        type: 'object',
        additionalProperties: false,
        required: ['trial', 'move', 'accuracy', 'sizeBytes', 'gzipBytes', 'pass', 'kept'],
        properties: {
          trial: {
            description: 'Its number, from 0 (the start).',
            type: 'integer',
          },
          move: {
            description: '"start", or the move tried, e.g. "fc_1 bits 8 → 4".',
            type: 'string',
          },
          accuracy: {
            description: "The trial's accuracy, 0 to 1.",
            type: 'number',
          },
          sizeBytes: {
            description: "The trial's raw size in bytes.",
            type: 'integer',
          },
          gzipBytes: {
            description: "The trial's gzip transfer size in bytes.",
            type: 'integer',
          },
          pass: {
            description: 'Every threshold holds.',
            type: 'boolean',
          },
          kept: {
            description: 'The move was kept: every threshold but size holds.',
            type: 'boolean',
          },
          empty: {
            description:
              'Set when a pass of the trial changed no weight: why. Such a plan cannot be built (exit 2), so it is never kept or chosen.',
            type: 'string',
          },
        },
      },
    },
  },
};
