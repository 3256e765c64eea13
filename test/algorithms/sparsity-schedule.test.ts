/** Zhu & Gupta's polynomial sparsity schedule (src/algorithms/sparsity-schedule.ts). */
import { describe, expect, it } from 'vitest';
import { scheduledSparsity } from '../../src/algorithms/sparsity-schedule.js';

describe('scheduledSparsity', () => {
  it('the polynomial schedule runs from initialSparsity to sparsity, fast first', () => {
    const s = { kind: 'polynomial', power: 3, steps: 100, frequency: 10, initialSparsity: 0.1 } as const;
    expect(scheduledSparsity(0.9, s, 0)).toBeCloseTo(0.1, 12);
    expect(scheduledSparsity(0.9, s, 100)).toBe(0.9);
    expect(scheduledSparsity(0.9, s, 50)).toBeCloseTo(0.9 - 0.8 / 8, 12);
    for (let t = 1; t <= 100; t++)
      expect(scheduledSparsity(0.9, s, t)).toBeGreaterThanOrEqual(scheduledSparsity(0.9, s, t - 1));
  });

  it("matches the paper's formula at every step, and stays at the final sparsity after the last", () => {
    const s = { power: 2, steps: 40, initialSparsity: 0 };
    for (let t = 0; t <= 40; t++) expect(scheduledSparsity(0.5, s, t)).toBeCloseTo(0.5 - 0.5 * (1 - t / 40) ** 2, 14);
    expect(scheduledSparsity(0.5, s, 41)).toBe(0.5);
    expect(scheduledSparsity(0.5, s, 1000)).toBe(0.5);
  });
});
