/**
 * measureLatency records what it measured (not how fast it was: timing is the machine's business, and a
 * test must not depend on it).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { layersInference, loadEngine } from '../../src/engine/runtime.js';
import { LATENCY_BATCHES } from '../../src/recipe/index.js';
import { MAX_RUNS, measureLatency, median, MIN_RUNS, percentile, WARMUP_RUNS } from '../../src/metrics/latency.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('measureLatency', () => {
  it('records positive medians at batch 1 and 32, the runs, the backend, the machine and when; leaks no tensors', async () => {
    // Fewer samples than the batch: the batch cycles through them.
    const ds = await loadMnist('test', 20);
    const model = buildArchitecture(tf, 'lenet5', {}, { inputShape: ds.inputShape, numClasses: 10, seed: 1 });
    const before = tf.memory().numTensors;
    const started = Date.now();
    const l = await measureLatency(tf, layersInference(model, { keep: true }), ds, 'wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(l.batches.map((b) => b.batchSize)).toEqual([...LATENCY_BATCHES]);
    for (const b of l.batches) {
      expect(b.medianMs).toBeGreaterThan(0);
      expect(b.minMs).toBeGreaterThan(0);
      expect(b.minMs).toBeLessThanOrEqual(b.medianMs);
      expect(b.runs).toBeGreaterThanOrEqual(MIN_RUNS);
      expect(b.runs).toBeLessThanOrEqual(MAX_RUNS);
    }
    expect([l.batch1Ms, l.batch32Ms]).toEqual([l.batches[0]!.medianMs, l.batches[1]!.medianMs]);
    expect(l).toMatchObject({ backend: 'wasm', warmupRuns: WARMUP_RUNS });
    expect(l.cores).toBeGreaterThanOrEqual(1);
    expect(l.cpu.length).toBeGreaterThan(0);
    expect(Date.parse(l.measuredAt)).toBeGreaterThanOrEqual(started - 1000);
    model.dispose();
  });

  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('95th percentile by nearest rank', () => {
    const v = Array.from({ length: 20 }, (_, i) => 20 - i); // 1..20, shuffled order
    expect(percentile(v, 0.95)).toBe(19);
    expect(percentile([5], 0.95)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(95);
    expect(percentile([], 0.95)).toBeNaN();
  });

  it('takes the batch sizes, exact run count and warm-up a recipe asks for, with p95 per batch size', async () => {
    const ds = await loadMnist('test', 20);
    const model = buildArchitecture(
      tf,
      'mlp',
      { hidden: [16] },
      { inputShape: ds.inputShape, numClasses: 10, seed: 1 },
    );
    const l = await measureLatency(tf, layersInference(model, { keep: true }), ds, 'wasm', {
      batchSizes: [4, 64],
      runs: 7,
      warmup: 2,
    });
    expect(l.batches.map((b) => [b.batchSize, b.runs])).toEqual([
      [4, 7],
      [64, 7],
    ]);
    for (const b of l.batches) expect(b.minMs <= b.medianMs && b.medianMs <= b.p95Ms!).toBe(true);
    expect(l.warmupRuns).toBe(2);
    expect(l.batch1Ms).toBeUndefined(); // batch 1 was not asked for
    model.dispose();
  });
});
