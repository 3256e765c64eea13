/**
 * Paired per-sample outcomes (1 = that sample was classified correctly, any non-zero byte counts as 1),
 * measured on the same samples by a baseline and a result. Only the discordant samples carry information
 * about the difference: b = baseline right, result wrong; c = baseline wrong, result right.
 */

/** The discordant counts b and c; `what` names the caller in the error on a length mismatch. */
export function discordant(
  baselineCorrect: Uint8Array,
  resultCorrect: Uint8Array,
  what: string,
): { b: number; c: number } {
  if (baselineCorrect.length !== resultCorrect.length) {
    throw new Error(`${what}: ${baselineCorrect.length} baseline outcomes but ${resultCorrect.length} result outcomes`);
  }
  let b = 0;
  let c = 0;
  for (let i = 0; i < baselineCorrect.length; i++) {
    const base = baselineCorrect[i]! !== 0;
    const res = resultCorrect[i]! !== 0;
    if (base && !res) b++;
    else if (!base && res) c++;
  }
  return { b, c };
}

/** Throws unless 0 < level < 1. */
export function checkLevel(level: number, what: string): void {
  if (!(level > 0 && level < 1)) throw new Error(`${what}: level must be in (0, 1), got ${level}`);
}
