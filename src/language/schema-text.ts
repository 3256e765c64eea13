/** JSON Schema fragments in words, for the generated reference pages: `integer ≥ 1`, `"uint8" | "int8"`, … */
import type { JsonSchema } from '../passes/index.js';

export function describeType(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  // Plain text: the table renderer escapes pipes for markdown cells.
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key];
    if (Array.isArray(branches)) return [...new Set((branches as JsonSchema[]).map(describeType))].join(' or ');
  }
  if (typeof s.$ref === 'string') return refName(s.$ref);
  const type = s.type;
  if (type === 'array') {
    const items = s.items as JsonSchema | undefined;
    return `list of ${items ? describeType(items) : 'values'}${bounds(s.minItems, s.maxItems, 'items')}`;
  }
  if (type === 'object') return s.properties ? 'map' : 'map (any keys)';
  if (type === 'number' || type === 'integer') return `${type}${numberBounds(s)}`;
  if (typeof type === 'string') return type;
  return 'any';
}

function refName(ref: string): string {
  const name = ref.split('/').pop() ?? ref;
  return name === 'byteSize' ? 'size (bytes, or "300kB")' : name;
}

function numberBounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (typeof s.minimum === 'number') parts.push(`≥ ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') parts.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === 'number') parts.push(`≤ ${s.maximum}`);
  if (typeof s.exclusiveMaximum === 'number') parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length ? ` ${parts.join(', ')}` : '';
}

function bounds(min: unknown, max: unknown, what: string): string {
  if (typeof min === 'number' && typeof max === 'number')
    return min === max ? ` (${min} ${what})` : ` (${min}–${max} ${what})`;
  if (typeof min === 'number' && min > 1) return ` (at least ${min} ${what})`;
  return '';
}
