import type { JsonSchema } from '../../passes/index.js';

const FIDELITY_FIGURES: Record<string, JsonSchema> = {
  agreement: {
    description: "Fraction of samples where the result's top-1 class is the baseline's (distribution outputs).",
    $ref: '#/$defs/fraction',
  },
  topKAgreement: {
    description:
      "Fraction of samples where the baseline's top-1 class is among the result's k highest, k = min(5, classes − 1) (distribution outputs of more than 2 classes).",
    $ref: '#/$defs/fraction',
  },
  meanKl: {
    description:
      'Mean over samples of KL(baseline ‖ result) of the output distributions, in nats (distribution outputs).',
    type: 'number',
    minimum: 0,
  },
  cosine: {
    description:
      "Mean over samples of the cosine similarity of the baseline's and the result's output vectors (outputs more than one value wide).",
    type: 'number',
    minimum: -1,
    maximum: 1,
  },
  meanRelError: {
    description: "Mean |result − baseline| over the output's values, relative to the range of the baseline's values.",
    type: 'number',
    minimum: 0,
  },
  maxRelError: {
    description: "Largest |result − baseline| of any value, relative to the range of the baseline's values.",
    type: 'number',
    minimum: 0,
  },
};

/** One evaluation's measurements. */
export const METRICS: JsonSchema = {
  description: 'What an evaluation step measured on one model (src/metrics/index.ts, type Metrics).',
  type: 'object',
  additionalProperties: false,
  required: ['count', 'sizeBytes', 'gzipBytes', 'brotliBytes', 'files', 'params'],
  properties: {
    accuracy: {
      description:
        'Top-1 accuracy on the evaluation data, 0 to 1. Absent when the evaluation data has no labels (then only fidelity to the baseline is measured).',
      $ref: '#/$defs/fraction',
    },
    correct: {
      description: 'Samples classified correctly. Absent when the evaluation data has no labels.',
      $ref: '#/$defs/count',
    },
    count: {
      description: 'Samples evaluated.',
      $ref: '#/$defs/count',
    },
    sizeBytes: {
      description: 'model.json plus weight shards, raw, exactly as exported.',
      $ref: '#/$defs/count',
    },
    gzipBytes: {
      description: "Sum of each exported file's gzip (level 9) size: bytes over the wire with Content-Encoding gzip.",
      $ref: '#/$defs/count',
    },
    brotliBytes: {
      description: "Sum of each exported file's brotli (quality 5) size: bytes over the wire with Content-Encoding br.",
      $ref: '#/$defs/count',
    },
    files: {
      description: 'Each exported file with its raw, gzip and brotli size.',
      type: 'array',
      items: {
        description: 'One exported file.',
        type: 'object',
        additionalProperties: false,
        required: ['name', 'bytes', 'gzip', 'brotli'],
        properties: {
          name: {
            description: "The file's name as exported: model.json, group1-shard1of2.bin, …",
            type: 'string',
          },
          bytes: {
            description: 'Raw bytes.',
            $ref: '#/$defs/count',
          },
          gzip: {
            description: 'Bytes after gzip, level 9.',
            $ref: '#/$defs/count',
          },
          brotli: {
            description: 'Bytes after brotli, quality 5.',
            $ref: '#/$defs/count',
          },
        },
      },
    },
    params: {
      description: 'Parameters (weights) in the model.',
      $ref: '#/$defs/count',
    },
    nonZeroParams: {
      description: 'Parameters that are not exactly zero (pruning shows here, not in params); absent in older reports.',
      $ref: '#/$defs/count',
    },
    peakBytes: {
      description:
        'Peak TF.js tensor memory in bytes while the model evaluates one batch of 256 samples, weights included (TF.js profiler: backend tensors, not the JavaScript heap); absent in older reports.',
      $ref: '#/$defs/count',
    },
    topK: {
      description: 'Top-k accuracy, k = min(5, classes − 1); absent with 2 classes and in older reports.',
      type: 'object',
      additionalProperties: false,
      required: ['k', 'accuracy', 'correct'],
      properties: {
        k: {
          description: 'How many of the highest-scored classes count.',
          type: 'integer',
          minimum: 1,
        },
        accuracy: {
          description: 'Fraction of samples whose label is among the k highest-scored classes.',
          $ref: '#/$defs/fraction',
        },
        correct: {
          description: 'Samples whose label is among the k highest-scored classes.',
          $ref: '#/$defs/count',
        },
      },
    },
    perClass: {
      description: 'Accuracy per label.',
      type: 'array',
      items: {
        description: 'One label.',
        type: 'object',
        additionalProperties: false,
        required: ['class', 'correct', 'count', 'accuracy'],
        properties: {
          class: {
            description: 'The label.',
            $ref: '#/$defs/count',
          },
          correct: {
            description: 'Samples of this label classified correctly.',
            $ref: '#/$defs/count',
          },
          count: {
            description: 'Samples of this label.',
            $ref: '#/$defs/count',
          },
          accuracy: {
            description: 'correct / count (0 when count is 0).',
            $ref: '#/$defs/fraction',
          },
        },
      },
    },
    outputs: {
      description:
        'The model outputs measured, in order (the first is the one accuracy reads). Absent in reports from before mcbuild measured several outputs.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'width'],
        properties: {
          name: { description: 'Output layer name, or signature key / node name of a graph model.', type: 'string' },
          width: { description: 'Values per sample.', $ref: '#/$defs/count' },
        },
      },
    },
    fidelity: {
      description:
        "The result's fidelity to the baseline on the same samples (result only): each figure is the worst over the outputs measured, and `outputs` has each output's. Classifier figures (agreement, topKAgreement, meanKl) exist only where an output is a class distribution. Reports from before mcbuild measured distances have only agreement and meanKl.",
      type: 'object',
      additionalProperties: false,
      properties: {
        ...FIDELITY_FIGURES,
        outputs: {
          description: 'Fidelity per output, in the order of `outputs`.',
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'width', 'distribution', 'meanRelError', 'maxRelError'],
            properties: {
              name: { description: 'The output.', type: 'string' },
              width: { description: 'Values per sample.', $ref: '#/$defs/count' },
              distribution: {
                description:
                  'Whether its rows were read as class distributions (softmax rows, or the first output with labelled data).',
                type: 'boolean',
              },
              ...FIDELITY_FIGURES,
            },
          },
        },
      },
    },
    paired: {
      description:
        "Samples only the baseline, or only the result, gets right (result only): the counts McNemar's test and a paired bootstrap need.",
      type: 'object',
      additionalProperties: false,
      required: ['count', 'baselineOnly', 'resultOnly'],
      properties: {
        count: {
          description: 'Samples compared.',
          $ref: '#/$defs/count',
        },
        baselineOnly: {
          description: 'Samples the baseline gets right and the result wrong.',
          $ref: '#/$defs/count',
        },
        resultOnly: {
          description: 'Samples the result gets right and the baseline wrong.',
          $ref: '#/$defs/count',
        },
      },
    },
    macs: {
      description:
        'Multiply-accumulates per sample, counted from the topology; absent for a graph model or a layer class mcbuild cannot count.',
      $ref: '#/$defs/count',
    },
    flops: {
      description: 'Floating-point operations per sample (2 per MAC, plus biases, pooling, batch norm, merges).',
      $ref: '#/$defs/count',
    },
    latency: {
      description:
        "Only in reports written before run.json existed (builds now write it to run.json's latency.baseline / latency.result): measured inference latency, machine-dependent. Never gated.",
      type: 'object',
      additionalProperties: false,
      required: ['batches', 'warmupRuns', 'backend', 'measuredAt', 'cores', 'cpu'],
      properties: {
        batch1Ms: {
          description: 'Median ms per forward pass at batch 1, when measured (the default batch sizes are 1 and 32).',
          type: 'number',
          minimum: 0,
        },
        batch32Ms: {
          description: 'Median ms per forward pass at batch 32, when measured.',
          type: 'number',
          minimum: 0,
        },
        batches: {
          description: 'Each batch size measured.',
          type: 'array',
          items: {
            description: 'One batch size.',
            type: 'object',
            additionalProperties: false,
            required: ['batchSize', 'medianMs', 'minMs', 'runs'],
            properties: {
              batchSize: {
                description: 'Samples per forward pass.',
                type: 'integer',
                minimum: 1,
              },
              medianMs: {
                description: 'Median milliseconds per forward pass.',
                type: 'number',
                minimum: 0,
              },
              p95Ms: {
                description: '95th percentile (nearest rank) of the timed passes, in milliseconds.',
                type: 'number',
                minimum: 0,
              },
              minMs: {
                description: 'Fastest pass, for a feel of the spread.',
                type: 'number',
                minimum: 0,
              },
              runs: {
                description: 'Timed passes (after warm-up).',
                type: 'integer',
                minimum: 1,
              },
              samplesMs: {
                description: 'Every timed pass in run order, in milliseconds.',
                type: 'array',
                items: {
                  type: 'number',
                  minimum: 0,
                },
              },
            },
          },
        },
        warmupRuns: {
          description: 'Untimed passes per batch size before timing.',
          $ref: '#/$defs/count',
        },
        backend: {
          description: 'The TF.js backend measured on.',
          type: 'string',
        },
        measuredAt: {
          description: 'When the eval step measured it (ISO 8601).',
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
    },
  },
};
