import { describe, expect, it } from 'vitest';
import { inOrder } from '../../src/util/in-order.js';

const later = <T>(value: T, ms: number) => new Promise<T>((r) => setTimeout(() => r(value), ms));

describe('inOrder', () => {
  it('keeps results by index whatever order they finish in, with at most `concurrency` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await inOrder([30, 5, 20, 1, 10], 2, async (ms, i) => {
      most = Math.max(most, ++inFlight);
      await later(null, ms);
      inFlight--;
      return i * 10;
    });
    expect(out).toEqual([0, 10, 20, 30, 40]);
    expect(most).toBe(2);
  });

  it('starts a prefix: once `proceed` says no, nothing after starts; the started ones finish', async () => {
    const started: number[] = [];
    const out = await inOrder(
      [0, 1, 2, 3, 4, 5],
      3,
      async (x) => {
        started.push(x);
        return later(x, 5);
      },
      (i) => i < 4,
    );
    expect(started).toEqual([0, 1, 2, 3]);
    expect(out).toEqual([0, 1, 2, 3]);
  });

  it('throws the first failure after the items in flight settled, starting nothing more', async () => {
    const started: number[] = [];
    let settled = 0;
    const error = await inOrder([0, 1, 2, 3, 4], 2, async (x) => {
      started.push(x);
      await later(null, x === 1 ? 1 : 20);
      settled++;
      if (x === 1) throw new Error('one failed');
      return x;
    }).catch((e: unknown) => e);
    expect(String(error)).toBe('Error: one failed');
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(2);
  });
});
