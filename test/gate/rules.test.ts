import { describe, expect, it } from 'vitest';
import { gate, rulesFor } from '../../src/gate/index.js';
import type { Metrics } from '../../src/metrics/index.js';
import type { Thresholds } from '../../src/recipe/index.js';

const m = (over: Partial<Metrics>): Metrics => ({
  accuracy: 0.9,
  correct: 90,
  count: 100,
  sizeBytes: 1000,
  gzipBytes: 900,
  brotliBytes: 800,
  files: [],
  params: 10,
  ...over,
});

describe('rulesFor: every threshold as one rule, in the order of the checks', () => {
  it('shorthand blocks in their fixed order, then metrics in the recipe order, then latency', () => {
    const t: Thresholds = {
      latency: { maxMs: 5, minRatio: 1 },
      metrics: { sparsity: { max: 1 }, accuracy: { min: 0 } },
      params: { minRatio: 1, max: 10 },
      size: { minRatio: 1, maxBytes: 1 },
      fidelity: { maxMeanKl: 1, minAgreement: 0 },
      accuracy: { min: 0, perClassMaxDrop: 1, maxDrop: 1 },
    };
    expect(rulesFor(t, { baseline: m({}), result: m({}) }).map((r) => [r.name, r.limit])).toEqual([
      ['accuracy.maxDrop', 1],
      ['accuracy.min', 0],
      ['accuracy.perClassMaxDrop', 1],
      ['fidelity.minAgreement', 0],
      ['fidelity.maxMeanKl', 1],
      ['size.maxBytes', 1],
      ['size.minRatio', 1],
      ['params.max', 10],
      ['params.minRatio', 1],
      ['metrics.sparsity.max', 1],
      ['metrics.accuracy.min', 0],
      ['latency.minRatio', 1],
      ['latency.maxMs', 5],
    ]);
  });

  it('label-free metrics: each accuracy limit fails in the recipe order, the significance block is no check', () => {
    const t: Thresholds = { accuracy: { min: 0.5, significance: { test: 'bootstrap' }, maxDrop: 0.1 } };
    const { accuracy: _a, correct: _c, ...unlabelled } = m({});
    const v = gate(t, unlabelled, unlabelled);
    expect(v.checks.map((c) => [c.name, c.pass, c.limit])).toEqual([
      ['accuracy.min', false, 0.5],
      ['accuracy.maxDrop', false, 0.1],
    ]);
    expect(v.checks[0]!.text).toMatch(/the eval data has no labels/);
  });

  it('a significance block makes accuracy.maxDrop a test on the paired outcomes', () => {
    const t: Thresholds = { accuracy: { maxDrop: 0.05, significance: { test: 'bootstrap' } } };
    const [rule] = rulesFor(t, { baseline: m({}), result: m({}) });
    const j = rule!.judge({ baseline: m({}), result: m({ accuracy: 0.88, correct: 88 }) });
    expect(j).toMatchObject({ pass: false, text: expect.stringMatching(/paired outcomes .* were not measured/) });
    expect(j.measured).toBeCloseTo(0.02, 12);
  });

  it('the worst class is judged against the baseline on that same class', () => {
    const cls = (c: number, accuracy: number) => ({ class: c, correct: accuracy * 10, count: 10, accuracy });
    const v = gate(
      { accuracy: { perClassMaxDrop: 0.15 } },
      m({ perClass: [cls(0, 0.9), cls(1, 0.8)] }),
      m({ perClass: [cls(0, 0.6), cls(1, 0.7)] }),
    );
    expect(v.checks[0]).toMatchObject({ name: 'accuracy.perClassMaxDrop', pass: false });
    expect(v.checks[0]!.text).toMatch(/^the worst class, 0, dropped by 30\.00% \(90\.00% → 60\.00% of 10 samples\)/);
  });

  it('latency limits without an interleaved timing fail, saying which batch was missing', () => {
    const v = gate({ latency: { maxMs: 5, batchSize: 8 } }, m({}), m({}));
    expect(v.checks).toEqual([
      {
        name: 'latency.maxMs',
        pass: false,
        measured: Number.NaN,
        limit: 5,
        text: 'baseline and result were not timed side by side at batch 8; rebuild (the latency step runs when a latency threshold is set)',
      },
    ]);
  });
});
