import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/util/random.js';
import { asText, withThousands } from '../../src/util/text.js';

describe('text', () => {
  it('withThousands writes what toLocaleString("en-US") writes', () => {
    const values = [0, -0, 7, -7, 999, 1000, -1000, 21546, 1083936, -2292106, 123456789012, Number.MAX_SAFE_INTEGER];
    values.push(-Number.MAX_SAFE_INTEGER, 2 ** 60, 0.5, 1234.5678, -0.0004, NaN, Infinity, -Infinity);
    const random = mulberry32(1);
    for (let i = 0; i < 200; i++) values.push(Math.round((random() - 0.5) * 10 ** (i % 16)));
    for (const v of values) expect(withThousands(v), String(v)).toBe(v.toLocaleString('en-US'));
  });

  it('asText quotes maps and lists as JSON, everything else as String() does', () => {
    expect(asText({ a: [1] })).toBe('{"a":[1]}');
    expect(asText('x')).toBe('x');
    expect(asText(null)).toBe('null');
  });
});
