import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { loadEngine } from '../../src/engine/runtime.js';
import { trainModel, type TrainOptions } from '../../src/engine/train.js';

const SHAPE = { inputShape: [28, 28, 1], numClasses: 10 };
const OPTIONS: TrainOptions = { epochs: 2, batchSize: 32, learningRate: 0.002, optimizer: 'adam', seed: 3 };

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('the training loop', () => {
  it("a custom loss sees the model's training-mode output, the labels and the dataset indices of the same samples", async () => {
    const ds = await loadMnist('train', 200);
    const model = buildArchitecture(tf, 'mlp', { hidden: [16] }, { ...SHAPE, seed: 1 });
    const batches: number[][] = [];
    const tensors = tf.memory().numTensors;
    const result = await trainModel(tf, model, ds, {
      ...OPTIONS,
      loss: (outputs, labels, indices) => {
        expect(outputs).toHaveLength(1);
        const output = outputs[0]!;
        expect(output.shape).toEqual([indices.length, 10]);
        const classes = labels.argMax(-1).dataSync();
        expect(Array.from(classes)).toEqual(Array.from(indices, (i) => ds.y[i]));
        batches.push(Array.from(indices));
        return tf.metrics.categoricalCrossentropy(labels, output).mean<tf.Scalar>();
      },
    });
    expect(tf.memory().numTensors).toBe(tensors);
    // Every sample once per epoch, in a shuffled order.
    expect(batches.length).toBe(14);
    expect(
      batches
        .slice(0, 7)
        .flat()
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(result.epochLosses[1]).toBeLessThan(result.epochLosses[0]!);
    model.dispose();
  });

  it('a model with several outputs gives the loss every output, in order, and trains on their sum', async () => {
    const ds = await loadMnist('train', 96);
    const input = tf.input({ shape: [28, 28, 1] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const hidden = tf.layers
      .dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
      .apply(flat) as tf.SymbolicTensor;
    const scores = tf.layers
      .dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
      .apply(hidden) as tf.SymbolicTensor;
    const box = tf.layers
      .dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
      .apply(hidden) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [scores, box] });
    const shapes: number[][][] = [];
    const tensors = tf.memory().numTensors;
    const result = await trainModel(tf, model, ds, {
      ...OPTIONS,
      epochs: 3,
      loss: (outputs, labels) => {
        shapes.push(outputs.map((o) => o.shape));
        // Cross-entropy on the scores plus the box head pulled towards 1.
        const ce = tf.metrics.categoricalCrossentropy(labels, outputs[0]!).mean();
        return tf.add<tf.Scalar>(ce, tf.mean(tf.square(tf.sub(outputs[1]!, 1))));
      },
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(shapes[0]).toEqual([
      [32, 10],
      [32, 4],
    ]);
    expect(result.epochLosses[2]).toBeLessThan(result.epochLosses[0]!);
    model.dispose();
  });
  it("seeds the model's noise layers: Dropout and GaussianNoise give the same weights twice, other seeds differ", async () => {
    const ds = await loadMnist('train', 128);
    // A user's model: noise layers without a seed draw from Math.random unless training seeds them.
    const noisy = () => {
      const input = tf.input({ shape: [28, 28, 1] });
      let x = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
      x = tf.layers.gaussianNoise({ stddev: 0.1 }).apply(x) as tf.SymbolicTensor;
      x = tf.layers
        .dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
        .apply(x) as tf.SymbolicTensor;
      x = tf.layers.dropout({ rate: 0.5 }).apply(x) as tf.SymbolicTensor;
      const out = tf.layers
        .dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
        .apply(x) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out });
    };
    const trained = async (seed: number) => {
      const model = noisy();
      await trainModel(tf, model, ds, { ...OPTIONS, epochs: 1, seed });
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return weights;
    };
    const random = Math.random;
    const first = await trained(3);
    // Draws in between must not matter, and Math.random is the process's own again after training.
    for (let i = 0; i < 5; i++) Math.random();
    expect(Math.random).toBe(random);
    expect(await trained(3)).toEqual(first);
    expect(await trained(4)).not.toEqual(first);
  });
});
