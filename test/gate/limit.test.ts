import { describe, expect, it } from 'vitest';
import { limitRule, measure } from '../../src/gate/limit.js';
import type { Metrics } from '../../src/metrics/index.js';

const m = (over: Partial<Metrics>): Metrics => ({
  count: 100,
  sizeBytes: 1000,
  gzipBytes: 900,
  brotliBytes: 800,
  files: [],
  params: 10,
  ...over,
});

describe('measure: the one comparison of every plain limit', () => {
  it('min and max read the result; a value exactly at the limit passes', () => {
    expect(measure('min', Number.NaN, 0.5, 0.5)).toEqual({ measured: 0.5, pass: true });
    expect(measure('min', Number.NaN, 0.49, 0.5)).toEqual({ measured: 0.49, pass: false });
    expect(measure('max', Number.NaN, 1000, 1000)).toEqual({ measured: 1000, pass: true });
    expect(measure('max', Number.NaN, 1001, 1000)).toEqual({ measured: 1001, pass: false });
  });

  it('drops are baseline − result, absolute or relative to the baseline; float noise at the limit passes', () => {
    expect(measure('maxDrop', 0.981, 0.971, 0.01).pass).toBe(true);
    expect(measure('maxDrop', 0.981, 0.97, 0.01).pass).toBe(false);
    expect(measure('maxRelativeDrop', 0.8, 0.7, 0.125).measured).toBeCloseTo(0.125, 12);
    // No baseline accuracy to be relative to: no drop.
    expect(measure('maxRelativeDrop', 0, 0, 0)).toEqual({ measured: 0, pass: true });
  });

  it('minRatio is baseline / result, infinite for an empty result', () => {
    expect(measure('minRatio', 400, 100, 4)).toEqual({ measured: 4, pass: true });
    expect(measure('minRatio', 400, 101, 4).pass).toBe(false);
    expect(measure('minRatio', 400, 0, 1e9)).toEqual({ measured: Number.POSITIVE_INFINITY, pass: true });
  });
});

describe('limitRule', () => {
  const rule = (needsBaseline?: boolean) =>
    limitRule({
      name: 'macs.max',
      metric: 'macs',
      kind: 'max',
      limit: 500,
      ...(needsBaseline === undefined ? {} : { needsBaseline }),
      say: (v) => `${v.result} of ${v.limit}`,
      missing: 'not counted',
    });

  it('reads the named metric and says what it found', () => {
    const j = rule().judge({ baseline: m({ macs: 1000 }), result: m({ macs: 500 }) });
    expect(j).toEqual({ pass: true, measured: 500, text: '500 of 500' });
  });

  it('a metric not measured fails with the missing text; min/max need the baseline only when asked', () => {
    expect(rule().judge({ baseline: m({}), result: m({}) })).toEqual({
      pass: false,
      measured: Number.NaN,
      text: 'not counted',
    });
    expect(rule().judge({ baseline: m({}), result: m({ macs: 400 }) }).pass).toBe(true);
    expect(rule(true).judge({ baseline: m({}), result: m({ macs: 400 }) }).text).toBe('not counted');
  });

  it('fidelity is judged against the baseline value it has by definition', () => {
    const r = limitRule({
      name: 'x',
      metric: 'agreement',
      kind: 'maxDrop',
      limit: 0.05,
      say: (v) => `${v.baseline}→${v.result}`,
      missing: '-',
    });
    const j = r.judge({ baseline: m({}), result: m({ fidelity: { agreement: 0.96, meanKl: 0 } }) });
    expect(j.text).toBe('1→0.96');
    expect(j.measured).toBeCloseTo(0.04, 12);
  });

  it('refuses a metric the table does not name', () => {
    expect(() => limitRule({ name: 'x', metric: 'nope', kind: 'min', limit: 0, say: () => '', missing: '' })).toThrow(
      /unknown metric nope/,
    );
  });
});
