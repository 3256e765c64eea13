/**
 * A value from a user's file (a recipe option, a model.json config entry) as messages quote it: what String()
 * gives for a string, number or boolean, and JSON for a map or list, which String() would make "[object Object]".
 */
export function asText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * `v` with thousands separators, as `v.toLocaleString('en-US')` writes it ("1,083,936"). The first
 * toLocaleString of a process loads ICU's number formatting, 20-40 ms of a cached build that prints a table of
 * counts; whole numbers (every count mcbuild prints) are grouped here instead, anything else goes to ICU.
 */
export function withThousands(v: number): string {
  if (!Number.isSafeInteger(v) || Object.is(v, -0)) return v.toLocaleString('en-US');
  return String(v).replace(/\B(?=(\d{3})+$)/g, ',');
}
