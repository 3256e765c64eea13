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
      loss: (output, labels, indices) => {
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
});
