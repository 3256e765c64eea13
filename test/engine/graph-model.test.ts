/**
 * A TF.js graph model (the converter's format) as the baseline: loaded, measured, quantized and exported,
 * and the output read back by stock tf.loadGraphModel in another process. The graph is written by hand
 * from a softmax-regression classifier trained here, so its accuracy can be checked against the layers
 * model it came from.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { loadEngine } from '../../src/engine/runtime.js';
import { build } from '../../src/index.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const constNode = (name: string, dtype: 'DT_FLOAT' | 'DT_INT32', shape: number[]) => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
});

let layersAccuracy: number;

beforeAll(async () => {
  await loadEngine('wasm');
  const train = await loadMnist('train', 1000);
  const test = await loadMnist('test', 300);
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({
        units: 10,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
      }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.tensor(train.x, [train.count, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(Array.from(train.y), 'int32'), 10);
  await model.fit(x, y, { epochs: 3, batchSize: 50, shuffle: false, verbose: 0 });
  const predicted = await tf
    .tidy(() => (model.predict(tf.tensor(test.x, [test.count, 28, 28, 1])) as tf.Tensor).argMax(-1))
    .data();
  layersAccuracy = predicted.filter((c, i) => c === test.y[i]).length / test.count;
  const [kernel, bias] = await Promise.all(model.getWeights().map((w) => w.data()));
  x.dispose();
  y.dispose();
  model.dispose();

  const topology = {
    node: [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 28, 28, 1]) } } },
      constNode('flat_shape', 'DT_INT32', [2]),
      {
        name: 'flat',
        op: 'Reshape',
        input: ['x', 'flat_shape'],
        attr: { T: { type: 'DT_FLOAT' }, Tshape: { type: 'DT_INT32' } },
      },
      constNode('dense/kernel', 'DT_FLOAT', [784, 10]),
      constNode('dense/bias', 'DT_FLOAT', [10]),
      {
        name: 'dense/MatMul',
        op: 'MatMul',
        input: ['flat', 'dense/kernel'],
        attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
      },
      {
        name: 'dense/BiasAdd',
        op: 'BiasAdd',
        input: ['dense/MatMul', 'dense/bias'],
        attr: { T: { type: 'DT_FLOAT' } },
      },
      { name: 'probs', op: 'Softmax', input: ['dense/BiasAdd'], attr: { T: { type: 'DT_FLOAT' } } },
    ],
    library: {},
    versions: { producer: 1 },
  };
  const weights = Buffer.concat([
    Buffer.from(new Int32Array([-1, 784]).buffer),
    Buffer.from(kernel!.buffer as ArrayBuffer),
    Buffer.from(bias!.buffer as ArrayBuffer),
  ]);
  writeText(
    join(dir, 'graph', 'model.json'),
    JSON.stringify({
      format: 'graph-model',
      generatedBy: 'test',
      convertedBy: 'hand',
      modelTopology: topology,
      weightsManifest: [
        {
          paths: ['weights.bin'],
          weights: [
            { name: 'flat_shape', shape: [2], dtype: 'int32' },
            { name: 'dense/kernel', shape: [784, 10], dtype: 'float32' },
            { name: 'dense/bias', shape: [10], dtype: 'float32' },
          ],
        },
      ],
    }),
  );
  writeFileSync(join(dir, 'graph', 'weights.bin'), weights);
});

describe('graph models', () => {
  it('are measured like layers models, quantized, and load with stock tf.loadGraphModel', async () => {
    const recipe = writeText(
      join(dir, 'g.yaml'),
      tinyRecipe({ model: '  path: ./graph/model.json', passes: '  - quantize: { dtype: uint8 }', output: './g-out' }),
    );
    const result = await build(recipe, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    expect(result.report.metrics.baseline.accuracy).toBe(layersAccuracy);
    expect(layersAccuracy).toBeGreaterThan(0.7);

    const json = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'g-out', 'model.json'), 'utf8'));
    expect(json.format).toBe('graph-model');
    const specs = json.weightsManifest[0].weights as {
      name: string;
      dtype: string;
      quantization?: { dtype: string };
    }[];
    // int32 constants are data, not weights: they stay exact.
    expect(specs.find((s) => s.name === 'flat_shape')?.quantization).toBeUndefined();
    expect(specs.find((s) => s.name === 'dense/kernel')?.quantization?.dtype).toBe('uint8');

    const test = await loadMnist('test', 300);
    writeFileSync(join(dir, 'inputs.f32'), test.x);
    const out = execFileSync(process.execPath, [
      join(ROOT, 'test/load-model.mjs'),
      join(dir, 'g-out'),
      'stock',
      'graph',
      join(dir, 'inputs.f32'),
      '300',
      '28,28,1',
    ]).toString();
    const { classes } = JSON.parse(out) as { classes: number[] };
    expect(classes.filter((c, i) => c === test.y[i]).length).toBe(result.report.metrics.result.correct);
  });
});
