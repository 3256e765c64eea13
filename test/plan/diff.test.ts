import { describe, expect, it } from 'vitest';
import { describeKeyChange } from '../../src/plan/diff.js';

describe('describeKeyChange', () => {
  it('names changed, added and removed values by path', () => {
    expect(
      describeKeyChange(
        { step: 'pass', options: { dtype: 'uint8', granularity: 'per-tensor' }, seed: 1, inputs: ['a'] },
        { step: 'pass', options: { dtype: 'uint16', granularity: 'per-tensor' }, limit: 5, inputs: ['a'] },
      ),
    ).toEqual(['limit: (unset) → 5', 'options.dtype: "uint8" → "uint16"', 'seed: 1 → (unset)']);
  });

  it('names upstream steps whose keys changed', () => {
    expect(
      describeKeyChange({ inputs: ['k1', 'k2'] }, { inputs: ['k1', 'k3'] }, ['baseline', 'pass-1-quantize']),
    ).toEqual(['upstream step pass-1-quantize changed']);
  });

  it('is empty when nothing changed, whatever the key order', () => {
    expect(describeKeyChange({ a: { x: 1, y: 2 }, inputs: [] }, { a: { y: 2, x: 1 }, inputs: [] })).toEqual([]);
  });
});
