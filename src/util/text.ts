/**
 * A value from a user's file (a recipe option, a model.json config entry) as messages quote it: what String()
 * gives for a string, number or boolean, and JSON for a map or list, which String() would make "[object Object]".
 */
export function asText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}
