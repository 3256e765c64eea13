/**
 * What the recipe loader must know of the passes and datasets mcbuild has. Those live above this module
 * (src/passes/, src/data/), so the loader is handed this description instead of importing them: the JSON
 * Schema generated from their definitions (src/language/) and the few facts the loader acts on itself.
 */
export interface RecipeLanguage {
  /** The recipe JSON Schema (draft 2020-12) that documents are validated against. */
  schema: Readonly<Record<string, unknown>>;
  /** Groups of a pass's options that say the same thing different ways (quantize's dtype and bits). */
  exclusiveOptions(pass: string): readonly (readonly string[])[];
}
