/**
 * The recipe's own part of the recipe schema: its keys, the model and training, the thresholds' shorthand
 * blocks. The parts that come from definitions elsewhere — dataset kinds, named metrics, passes — are added by
 * src/language/schema.ts, which assembles the whole.
 */
import {
  DOCUMENT,
  EXTENDS_KEY,
  GATE_KEY,
  MATRIX_KEY,
  MODEL_KEY,
  NAME_KEY,
  OUTPUT_KEY,
  RUNTIME_KEY,
  VERSION_KEY,
  DESCRIPTION_KEY,
} from './document.js';
import {
  DATA_KEY,
  DATA_SPEC_DESCRIPTION,
  OVERRIDE_BLOCK_BASE,
  OVERRIDES_KEY,
  PASS_ENTRY_DESCRIPTION,
  PASSES_KEY,
} from './lists.js';
import { BYTE_SIZE, COUNT_THRESHOLD, METRICS_DESCRIPTION, THRESHOLDS } from './thresholds.js';
import { SCHEDULE, TRAIN } from './train.js';
import type { JsonSchema } from './types.js';

export type { JsonSchema } from './types.js';

export interface RecipeSchemaParts {
  /** $schema, $id, title, description, type, required. */
  document: JsonSchema;
  /** The top-level keys in order; `thresholds.properties.metrics` is a placeholder. */
  keys: Record<string, JsonSchema>;
  thresholds: JsonSchema;
  thresholdKeys: Record<string, JsonSchema>;
  metricsDescription: string;
  dataSpecDescription: string;
  passEntryDescription: string;
  overrideBlockBase: JsonSchema;
  /** train, schedule, byteSize, countThreshold. */
  defs: Record<string, JsonSchema>;
}

export function recipeSchemaParts(): RecipeSchemaParts {
  return {
    document: DOCUMENT,
    keys: {
      version: VERSION_KEY,
      name: NAME_KEY,
      description: DESCRIPTION_KEY,
      extends: EXTENDS_KEY,
      model: MODEL_KEY,
      data: DATA_KEY,
      passes: PASSES_KEY,
      overrides: OVERRIDES_KEY,
      thresholds: THRESHOLDS,
      output: OUTPUT_KEY,
      runtime: RUNTIME_KEY,
      matrix: MATRIX_KEY,
      gate: GATE_KEY,
    },
    thresholds: THRESHOLDS,
    thresholdKeys: THRESHOLDS.properties as Record<string, JsonSchema>,
    metricsDescription: METRICS_DESCRIPTION,
    dataSpecDescription: DATA_SPEC_DESCRIPTION,
    passEntryDescription: PASS_ENTRY_DESCRIPTION,
    overrideBlockBase: OVERRIDE_BLOCK_BASE,
    defs: { train: TRAIN, schedule: SCHEDULE, byteSize: BYTE_SIZE, countThreshold: COUNT_THRESHOLD },
  };
}
