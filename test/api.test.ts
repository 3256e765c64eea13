/**
 * The programmatic API in-process: typed results, events, no tensor leaks, and reproducible bytes.
 */
import * as tf from '@tensorflow/tfjs';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildEvent } from '../src/index.js';
import { loadEngine } from '../src/engine/runtime.js';
import { tempDir, tinyRecipe, writeText } from './helpers.js';

const dir = tempDir();

beforeAll(async () => {
  await loadEngine('wasm');
});

/**
 * Every file of an output folder but the two that hold this machine's timings (run.json, and report.html which
 * charts them): model, report.json, provenance.json and manifest.json must be the same bytes on a cold rebuild.
 */
function outputBytes(out: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(out)
      .filter((f) => f !== 'report.html' && f !== 'run.json')
      .sort()
      .map((f) => [f, readFileSync(join(out, f)).toString('base64')]),
  );
}

/** A report without its measured latency: machine time, stamped with when, the one part a cold rebuild changes. */
function withoutLatency<T extends { metrics: { baseline: { latency?: unknown }; result: { latency?: unknown } } }>(
  report: T,
): T {
  expect(report.metrics.baseline.latency).toBeDefined();
  const { latency: _b, ...baseline } = report.metrics.baseline;
  const { latency: _r, ...result } = report.metrics.result;
  return { ...report, metrics: { ...report.metrics, baseline, result } };
}

describe('build()', () => {
  it('reports events, leaks no tensors, and gives the same bytes from two cold caches', async () => {
    const recipe = writeText(join(dir, 'api.yaml'), tinyRecipe({ output: './out-a' }));
    const events: BuildEvent['type'][] = [];
    const before = tf.memory().numTensors;
    const a = await build(recipe, {
      cacheDir: join(dir, 'cache-a'),
      backend: 'wasm',
      onEvent: (e) => events.push(e.type),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.exitCode).toBe(0);
    expect(a.execution.ran).toEqual(['baseline', 'eval-baseline', 'pass-1-quantize', 'eval-result']);
    expect(events[0]).toBe('plan');
    expect(events.filter((t) => t === 'step-done')).toHaveLength(4);
    expect(events).toContain('step-progress');

    const b = await build(recipe, { cacheDir: join(dir, 'cache-b'), backend: 'wasm', output: join(dir, 'out-b') });
    expect(tf.memory().numTensors).toBe(before);
    // Seeded initialisers and shuffling: a cold rebuild reproduces the trained weights byte for byte.
    expect(Object.keys(outputBytes(join(dir, 'out-a')))).toEqual([
      'group1-shard1of1.bin',
      'manifest.json',
      'model.json',
      'provenance.json',
      'report.json',
    ]);
    expect(outputBytes(join(dir, 'out-b'))).toEqual(outputBytes(join(dir, 'out-a')));
    expect(withoutLatency(b.report)).toEqual(withoutLatency(a.report));
  });

  it('training that produces a NaN loss stops with a hint naming epoch and batch', async () => {
    // TF.js clips the cross-entropy and wasm's relu maps NaN to 0, so no learning rate the schema allows
    // reaches NaN on MNIST; poison the output layer's bias to get the NaN a diverging run would produce.
    const { trainModel } = await import('../src/engine/train.js');
    const { buildArchitecture } = await import('../src/engine/architectures/index.js');
    const { loadMnist } = await import('../src/data/mnist.js');
    const ds = await loadMnist('train', 96);
    const model = buildArchitecture(
      tf,
      'mlp',
      { hidden: [16] },
      { inputShape: ds.inputShape, numClasses: 10, seed: 1 },
    );
    const bias = model.getLayer('predictions').getWeights()[1]!;
    const poisoned = tf.fill(bias.shape, Number.NaN);
    model.getLayer('predictions').setWeights([model.getLayer('predictions').getWeights()[0]!, poisoned]);
    poisoned.dispose();
    const before = tf.memory().numTensors;
    const err = await trainModel(tf, model, ds, {
      epochs: 1,
      batchSize: 32,
      learningRate: 0.01,
      optimizer: 'sgd',
      seed: 1,
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('MCB_TRAINING_DIVERGED');
    expect(err?.message).toMatch(
      /training diverged: the loss became NaN in epoch 1, batch \d of 3\. Lower the learning rate \(now 0\.01\); nothing was cached/,
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a cancelled build throws MCB_CANCELLED and caches nothing for the interrupted step', async () => {
    const recipe = writeText(
      join(dir, 'cancel.yaml'),
      tinyRecipe({ output: './out-cancel' }).replace('epochs: 2', 'epochs: 5'),
    );
    const cacheDir = join(dir, 'cache-cancel');
    const controller = new AbortController();
    const err = await build(recipe, {
      cacheDir,
      backend: 'wasm',
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step-progress' && e.step.id === 'baseline' && (e.fraction ?? 0) > 0.3) controller.abort();
      },
    }).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe('MCB_CANCELLED');
    const { planBuild } = await import('../src/index.js');
    expect((await planBuild(recipe, { cacheDir, backend: 'wasm' })).cached.size).toBe(0);
  });
});
