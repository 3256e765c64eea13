import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { build, planBuild } from '../../src/index.js';
import { finetune } from '../../src/passes/finetune/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const place = { path: ['passes', 1, 'finetune'], at: () => 'r.yaml:1:1' };

beforeAll(async () => {
  await loadEngine('wasm');
});

async function accuracy(model: tf.LayersModel, n = 300): Promise<number> {
  const test = await loadMnist('test', n);
  const classes = await tf
    .tidy(() => (model.predict(tf.tensor(test.x, [n, 28, 28, 1])) as tf.Tensor).argMax(-1))
    .data();
  return classes.filter((c, i) => c === test.y[i]).length / n;
}

describe('finetune', () => {
  it('fills defaults: one epoch at a small learning rate', () => {
    expect(finetune.resolveOptions({}, place)).toEqual({
      epochs: 1,
      batchSize: 64,
      learningRate: 1e-4,
      optimizer: 'adam',
      schedule: { type: 'constant' },
      seed: 1,
    });
  });

  it('improves an untrained CNN on real MNIST (training through the wasm conv kernels), deterministically, without leaks', async () => {
    const untrained = buildArchitecture(tf, 'lenet5', {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
    const before = await accuracy(untrained);
    const stored = await fromLayersModel(tf, untrained);
    untrained.dispose();
    const train = await loadMnist('train', 1024);
    const progress: number[] = [];
    const ctx: PassContext = {
      engine: () => loadEngine('wasm'),
      data: async () => train,
      signal: new AbortController().signal,
      progress: (_m, f) => progress.push(f ?? -1),
    };
    const options = finetune.resolveOptions({ epochs: 2, learningRate: 0.002, batchSize: 32 }, place);
    const tensors = tf.memory().numTensors;
    const a = await finetune.apply(stored, options, ctx);
    const b = await finetune.apply(stored, options, ctx);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Buffer.from(a.model.weightData).equals(Buffer.from(b.model.weightData))).toBe(true);
    const tuned = await toLayersModel(tf, a.model);
    const after = await accuracy(tuned);
    tuned.dispose();
    expect(before).toBeLessThan(0.3);
    expect(after).toBeGreaterThan(0.85);
    expect(progress.at(-1)).toBe(1);
    expect((a.stats.epochLosses as number[])[1]).toBeLessThan((a.stats.epochLosses as number[])[0]!);
  });

  it('`steps` stops mid-epoch', async () => {
    const model = buildArchitecture(tf, 'mlp', { hidden: [8] }, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const stored = await fromLayersModel(tf, model);
    model.dispose();
    const train = await loadMnist('train', 640);
    let batches = 0;
    const ctx: PassContext = {
      engine: () => loadEngine('wasm'),
      data: async () => train,
      signal: new AbortController().signal,
      progress: () => batches++,
    };
    await finetune.apply(stored, finetune.resolveOptions({ epochs: 3, steps: 7 }, place), ctx);
    expect(batches).toBe(7);
  });

  it('in a recipe: needs data.train, and reruns only itself and what follows when its options change', async () => {
    const dir = tempDir();
    const recipe = (ft: string, withTrain = true) =>
      writeText(
        join(dir, 'ft.yaml'),
        tinyRecipe({ passes: `  - quantize: { dtype: float16 }\n  - finetune: ${ft}`, output: './out' }).replace(
          'data:\n',
          withTrain ? 'data:\n  train: { dataset: mnist, split: train, limit: 256 }\n' : 'data:\n',
        ),
      );
    const text = readFileSync(recipe('{ epochs: 1 }', false), 'utf8').split('\n');
    const line = text.findIndex((l) => l.includes('finetune:')) + 1;
    const col = text[line - 1]!.indexOf('{') + 1;
    await expect(planBuild(join(dir, 'ft.yaml'), { cacheDir: join(dir, 'c') })).rejects.toThrow(
      new RegExp(
        `the finetune pass at .*ft\\.yaml:${line}:${col} reads data\\.train, which the recipe does not set; add it`,
      ),
    );
    const first = await build(recipe('{ epochs: 1 }'), { cacheDir: join(dir, 'c'), backend: 'wasm' });
    expect(first.execution.ran).toEqual([
      'baseline',
      'eval-baseline',
      'pass-1-quantize',
      'pass-2-finetune',
      'eval-result',
    ]);
    // finetune writes float32 weights: the model is back to full size.
    expect(first.report.metrics.result.sizeBytes).toBeGreaterThan(first.report.metrics.baseline.sizeBytes * 0.95);
    const second = await build(recipe('{ epochs: 1, learningRate: 0.001 }'), {
      cacheDir: join(dir, 'c'),
      backend: 'wasm',
    });
    expect(second.execution.ran).toEqual(['pass-2-finetune', 'eval-result']);
  });
});

describe('finetune keeps what earlier passes established', () => {
  it('weights pruned to zero stay zero while the rest trains', async () => {
    const model = buildArchitecture(tf, 'lenet5', {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 4 });
    // Zero every other weight of fc_1's kernel and record it, as the prune pass does.
    const fc1 = model.getLayer('fc_1');
    const [kernel, bias] = fc1.getWeights();
    const pruned = tf.tidy(() =>
      kernel!.mul(tf.tensor1d(Array.from({ length: kernel!.size }, (_, i) => i % 2)).reshape(kernel!.shape)),
    );
    fc1.setWeights([pruned, bias!]);
    pruned.dispose();
    const { withRecordedWeights } = await import('../../src/passes/constraints.js');
    const raw = await fromLayersModel(tf, model);
    const stored = { ...raw, json: withRecordedWeights(raw.json, 'prunedWeights', ['fc_1/kernel']) };
    model.dispose();
    const train = await loadMnist('train', 256);
    const ctx: PassContext = {
      engine: () => loadEngine('wasm'),
      data: async () => train,
      signal: new AbortController().signal,
      progress: () => {},
    };
    const tensors = tf.memory().numTensors;
    const out = await finetune.apply(stored, finetune.resolveOptions({ learningRate: 0.01 }, place), ctx);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(out.stats.kept).toEqual(['sparsity of 1 kernel']);
    // As report.json stores them, the stats are what the pass declares (meta.stats).
    const declared = new Ajv2020({ strict: true, allErrors: true }).compile(finetune.meta.stats);
    expect(declared(JSON.parse(JSON.stringify(out.stats))), JSON.stringify(declared.errors)).toBe(true);
    const tuned = await toLayersModel(tf, out.model);
    const after = tuned.getLayer('fc_1').getWeights()[0]!.dataSync();
    const original = await toLayersModel(tf, stored);
    const before = original.getLayer('fc_1').getWeights()[0]!.dataSync();
    original.dispose();
    let zerosKept = 0;
    let trained = 0;
    for (let i = 0; i < after.length; i++) {
      if (i % 2 === 0) zerosKept += after[i] === 0 ? 1 : 0;
      else trained += after[i] !== before[i] ? 1 : 0;
    }
    expect(zerosKept).toBe(Math.ceil(after.length / 2));
    expect(trained).toBeGreaterThan(after.length / 4);
    tuned.dispose();
  });

  it('a uint8-quantized model trains freely: its exact zeros and few values are not mistaken for pruning or clustering', async () => {
    const { quantize } = await import('../../src/passes/quantize/index.js');
    const model = buildArchitecture(tf, 'mlp', { hidden: [32] }, { inputShape: [28, 28, 1], numClasses: 10, seed: 6 });
    const stored = await fromLayersModel(tf, model);
    model.dispose();
    const q = (await quantize.apply(stored, { dtype: 'uint8', granularity: 'per-tensor' }, {} as PassContext)).model;
    const train = await loadMnist('train', 256);
    const ctx: PassContext = {
      engine: () => loadEngine('wasm'),
      data: async () => train,
      signal: new AbortController().signal,
      progress: () => {},
    };
    const out = await finetune.apply(q, finetune.resolveOptions({ learningRate: 0.01 }, place), ctx);
    expect(out.stats.kept).toEqual([]);
    const tuned = await toLayersModel(tf, out.model);
    const distinct = new Set(tuned.getLayer('fc_1').getWeights()[0]!.dataSync()).size;
    tuned.dispose();
    expect(distinct).toBeGreaterThan(1000);
  });
});
