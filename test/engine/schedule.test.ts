import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../../src/engine/schedule.js';

describe('learning-rate schedules', () => {
  it('constant, with linear warm-up', () => {
    const lr = [0, 1, 2, 3, 50].map((s) => learningRateAt(0.1, { type: 'constant', warmupBatches: 4 }, s, 100, 10));
    [0.025, 0.05, 0.075, 0.1, 0.1].forEach((want, i) => expect(lr[i]).toBeCloseTo(want, 12));
  });

  it('cosine decays from the base to the minimum at the last batch', () => {
    const lr = (s: number) => learningRateAt(1, { type: 'cosine', minLearningRate: 0.1 }, s, 101, 10);
    expect(lr(0)).toBe(1);
    expect(lr(50)).toBeCloseTo(0.55, 10);
    expect(lr(100)).toBeCloseTo(0.1, 10);
    for (let s = 1; s <= 100; s++) expect(lr(s)).toBeLessThanOrEqual(lr(s - 1));
  });

  it('step multiplies by gamma every stepEpochs epochs', () => {
    const lr = (s: number) => learningRateAt(1, { type: 'step', stepEpochs: 2, gamma: 0.1 }, s, 100, 10);
    expect([0, 19, 20, 39, 40].map(lr).map((x) => Number(x.toPrecision(6)))).toEqual([1, 1, 0.1, 0.1, 0.01]);
  });
});
