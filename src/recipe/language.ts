/**
 * What the recipe loader must know of the passes and datasets mcbuild has. Those live above this module
 * (src/passes/, src/data/), so the loader is handed this description instead of importing them: the JSON
 * Schema generated from their definitions (src/language/) and the few facts the loader acts on itself.
 */
import type { DataSpec } from './types.js';

/** How a data entry's raw values become a DataSpec: its role (for default splits) and its file paths. */
export interface DataEntryContext {
  role: 'eval' | 'calibration' | 'train';
  /** The path written under `key`, made absolute against the file that wrote it (and so written back). */
  file(key: string): string;
  /** "x.yaml:9:5": where the entry writes the value at `keys` (for errors about it). */
  at(...keys: string[]): string;
}

export interface RecipeLanguage {
  /** The recipe JSON Schema (draft 2020-12) that documents are validated against. */
  schema: Readonly<Record<string, unknown>>;
  /** Groups of a pass's options that say the same thing different ways (quantize's dtype and bits). */
  exclusiveOptions(pass: string): readonly (readonly string[])[];
  /** A validated `data.<role>` entry with its kind's defaults filled in and its paths absolute. */
  normaliseData(raw: Readonly<Record<string, unknown>>, context: DataEntryContext): DataSpec;
}
