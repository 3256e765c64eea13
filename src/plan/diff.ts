/**
 * What changed between two versions of a step's key inputs, in words a person reads: "options.dtype:
 * "uint8" → "uint16"", "upstream step pass-1-quantize changed". Pure; used for cache-miss messages and
 * `mcbuild explain`.
 */
import { canonicalJson } from '../util/hash.js';

export function describeKeyChange(
  previous: Record<string, unknown>,
  current: Record<string, unknown>,
  inputIds: readonly string[] = [],
): string[] {
  const out: string[] = [];
  const prevInputs = (previous.inputs as string[] | undefined) ?? [];
  const curInputs = (current.inputs as string[] | undefined) ?? [];
  curInputs.forEach((key, i) => {
    if (prevInputs[i] !== key) out.push(`upstream step ${inputIds[i] ?? `#${i + 1}`} changed`);
  });
  const { inputs: _a, ...prev } = previous;
  const { inputs: _b, ...cur } = current;
  walk(prev, cur, [], out);
  return out;
}

function walk(a: unknown, b: unknown, path: string[], out: string[]): void {
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) return;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], [...path, k], out);
    return;
  }
  // Lists of the same length (override rules, layer names) are compared entry by entry: "overrides[1].set.bits: 4 → 2".
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && path.length > 0) {
    a.forEach((x, i) => walk(x, b[i], [...path.slice(0, -1), `${path[path.length - 1]}[${i}]`], out));
    return;
  }
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  out.push(`${path.join('.') || 'key'}: ${show(a)} → ${show(b)}`);
}
