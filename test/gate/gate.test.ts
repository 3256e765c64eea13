import { describe, expect, it } from 'vitest';
import { gate } from '../../src/gate/index.js';
import type { Metrics } from '../../src/metrics/index.js';
import { parseByteSize } from '../../src/util/bytes.js';

const m = (accuracy: number, sizeBytes: number, gzipBytes = sizeBytes, brotliBytes = gzipBytes): Metrics => ({
  accuracy,
  correct: Math.round(accuracy * 1000),
  count: 1000,
  sizeBytes,
  gzipBytes,
  brotliBytes,
  files: [{ name: 'model.json', bytes: sizeBytes, gzip: gzipBytes, brotli: brotliBytes }],
  params: 10,
});

describe('gate', () => {
  it('passes with no thresholds', () => {
    expect(gate({}, m(0.9, 100), m(0.1, 100))).toEqual({ pass: true, checks: [] });
  });

  it('a drop of exactly the limit passes; a hair more fails', () => {
    expect(gate({ accuracy: { maxDrop: 0.01 } }, m(0.981, 1), m(0.971, 1)).pass).toBe(true);
    const v = gate({ accuracy: { maxDrop: 0.01 } }, m(0.981, 1), m(0.97, 1));
    expect(v.pass).toBe(false);
    expect(v.checks[0]).toMatchObject({ name: 'accuracy.maxDrop', pass: false, limit: 0.01 });
    expect(v.checks[0]!.measured).toBeCloseTo(0.011, 10);
    expect(v.checks[0]!.text).toBe('accuracy dropped by 1.10% (baseline 98.10% → result 97.00%); limit 1.00%');
  });

  it('relative drop, minimum accuracy, size and ratio', () => {
    const v = gate(
      { accuracy: { maxRelativeDrop: 0.02, min: 0.95 }, size: { maxBytes: 300_000, minRatio: 4 } },
      m(0.9, 1_200_000),
      m(0.89, 300_001),
    );
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

describe('transfer size thresholds', () => {
  it('check gzip and brotli sums against their limits, exactly at the limit passing', () => {
    const v = gate(
      { size: { maxGzipBytes: 250_000, maxBrotliBytes: 200_000 } },
      m(0.9, 1_000_000),
      m(0.9, 300_000, 250_000, 200_001),
    );
    expect(v.checks.map((c) => [c.name, c.pass, c.measured, c.limit])).toEqual([
      ['size.maxGzipBytes', true, 250_000, 250_000],
      ['size.maxBrotliBytes', false, 200_001, 200_000],
    ]);
    expect(v.pass).toBe(false);
    expect(v.checks[0]!.text).toBe(
      'size with gzip is 250.0 kB (250000 bytes, 1 file compressed one by one); limit 250.0 kB (250000 bytes)',
    );
    expect(v.checks[1]!.text).toBe(
      'size with brotli is 200.0 kB (200001 bytes, 1 file compressed one by one); limit 200.0 kB (200000 bytes)',
    );
  });

  it('sit between size.maxBytes and size.minRatio, in the order of the recipe schema', () => {
    const v = gate(
      { size: { minRatio: 2, maxBrotliBytes: 1e6, maxBytes: 1e6, maxGzipBytes: 1e6 } },
      m(0.9, 1_000_000),
      m(0.9, 300_000, 200_000, 150_000),
    );
    expect(v.checks.map((c) => c.name)).toEqual([
      'size.maxBytes',
      'size.maxGzipBytes',
      'size.maxBrotliBytes',
      'size.minRatio',
    ]);
    expect(v.pass).toBe(true);
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
