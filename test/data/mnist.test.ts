import { describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';

describe('mnist', () => {
  it('splits the 10,000 digits 80/20, the same way every time', async () => {
    const train = await loadMnist('train');
    const test = await loadMnist('test');
    expect(train.count + test.count).toBeGreaterThanOrEqual(10_000);
    expect(test.count / (train.count + test.count)).toBeCloseTo(0.2, 2);
    const again = await loadMnist('test');
    expect(Buffer.from(again.x.buffer).equals(Buffer.from(test.x.buffer))).toBe(true);
    expect(test.inputShape).toEqual([28, 28, 1]);
  });

  it('every split and every prefix is class-balanced', async () => {
    for (const split of ['train', 'test'] as const) {
      for (const limit of [100, 1000]) {
        const ds = await loadMnist(split, limit);
        expect(ds.count).toBe(limit);
        const counts = new Array(10).fill(0);
        for (const y of ds.y) counts[y]++;
        expect(Math.min(...counts)).toBeGreaterThanOrEqual(limit / 10 - 2);
        expect(Math.max(...counts)).toBeLessThanOrEqual(limit / 10 + 2);
      }
    }
  });

  it('no test image appears in the training split', async () => {
    const train = await loadMnist('train');
    const test = await loadMnist('test', 300);
    const key = (x: Float32Array, i: number) => Buffer.from(x.buffer, i * 784 * 4, 784 * 4).toString('base64');
    const seen = new Set<string>();
    for (let i = 0; i < train.count; i++) seen.add(key(train.x, i));
    let shared = 0;
    for (let i = 0; i < test.count; i++) if (seen.has(key(test.x, i))) shared++;
    expect(shared).toBe(0);
  });

  it('pixel values are in [0, 1]', async () => {
    const ds = await loadMnist('test', 50);
    expect(Math.min(...ds.x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ds.x)).toBeLessThanOrEqual(1);
  });
});
