import { describe, expect, it } from 'vitest';
import { gate } from '../../src/gate/index.js';
import { parseByteSize } from '../../src/util/bytes.js';

const m = (accuracy: number, sizeBytes: number) => ({ accuracy, correct: Math.round(accuracy * 1000), count: 1000, sizeBytes, params: 10 });

describe('gate', () => {
  it('passes with no thresholds', () => {
    expect(gate({}, m(0.9, 100), m(0.1, 100))).toEqual({ pass: true, checks: [] });
  });

  it('a drop of exactly the limit passes; a hair more fails', () => {
    expect(gate({ accuracy: { maxDrop: 0.01 } }, m(0.981, 1), m(0.971, 1)).pass).toBe(true);
    const v = gate({ accuracy: { maxDrop: 0.01 } }, m(0.981, 1), m(0.970, 1));
    expect(v.pass).toBe(false);
    expect(v.checks[0]).toMatchObject({ name: 'accuracy.maxDrop', pass: false, limit: 0.01 });
    expect(v.checks[0]!.measured).toBeCloseTo(0.011, 10);
    expect(v.checks[0]!.text).toBe('accuracy dropped by 1.10% (baseline 98.10% → result 97.00%); limit 1.00%');
  });

  it('relative drop, minimum accuracy, size and ratio', () => {
    const v = gate({ accuracy: { maxRelativeDrop: 0.02, min: 0.95 }, size: { maxBytes: 300_000, minRatio: 4 } }, m(0.9, 1_200_000), m(0.89, 300_001));
    expect(v.checks.map((c) => [c.name, c.pass])).toEqual([
      ['accuracy.maxRelativeDrop', true],
      ['accuracy.min', false],
      ['size.maxBytes', false],
      ['size.minRatio', false],
    ]);
    expect(v.pass).toBe(false);
    expect(v.checks[3]!.measured).toBeCloseTo(1_200_000 / 300_001, 10);
  });
});

describe('byte sizes', () => {
  it('parses SI and binary units', () => {
    expect(parseByteSize('300kB')).toBe(300_000);
    expect(parseByteSize('1.5MB')).toBe(1_500_000);
    expect(parseByteSize('2MiB')).toBe(2 * 1024 * 1024);
    expect(parseByteSize(' 12 ')).toBe(12);
    expect(parseByteSize(4096)).toBe(4096);
    expect(parseByteSize('12 parsecs')).toBeUndefined();
  });
});
