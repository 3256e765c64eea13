import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { inputBatch } from '../../src/engine/batches.js';
import { recalibrateBatchNorm } from '../../src/engine/batchnorm.js';
import { loadEngine } from '../../src/engine/runtime.js';
import { trainModel } from '../../src/engine/train.js';
import { mulberry32, shuffledIndices } from '../../src/util/random.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('batch-norm recalibration', () => {
  it('sets moving statistics to the average of the batch statistics, and restores the momentum', async () => {
    const ds = await loadMnist('train', 256);
    const conv = tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 4,
      kernelSize: 3,
      useBias: false,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    });
    const model = tf.sequential({
      layers: [
        conv,
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    const before = tf.memory().numTensors;
    expect(recalibrateBatchNorm(tf, model, ds, { batches: 3, batchSize: 64, seed: 9 })).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    // The same batches, by hand: the running average of per-batch mean and (biased) variance.
    const order = shuffledIndices(ds.count, mulberry32(9 ^ 0x5bd1e995));
    const means: tf.Tensor[] = [];
    const variances: tf.Tensor[] = [];
    for (let k = 0; k < 3; k++) {
      tf.tidy(() => {
        const { mean, variance } = tf.moments(
          conv.apply(inputBatch(tf, ds, order, k * 64, k * 64 + 64)) as tf.Tensor,
          [0, 1, 2],
        );
        means.push(tf.keep(mean));
        variances.push(tf.keep(variance));
      });
    }
    const [, , movingMean, movingVariance] = model.getLayer('bn').getWeights();
    const wantMean = tf.tidy(() => tf.addN(means).div(3));
    const wantVar = tf.tidy(() => tf.addN(variances).div(3));
    const close = (a: tf.Tensor, b: tf.Tensor) =>
      Array.from(a.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i]!, 5));
    close(movingMean!, wantMean);
    close(movingVariance!, wantVar);
    expect((model.getLayer('bn') as unknown as { momentum: number }).momentum).toBe(0.99);
    tf.dispose([...means, ...variances, wantMean, wantVar]);
    model.dispose();
  });

  it('makes predict() agree with training-mode accuracy on a briefly trained MobileNet', async () => {
    const train = await loadMnist('train', 512);
    const test = await loadMnist('test', 300);
    const accuracy = (m: tf.LayersModel) => {
      const classes = tf.tidy(() =>
        (m.predict(tf.tensor(test.x, [300, 28, 28, 1])) as tf.Tensor).argMax(-1).dataSync(),
      );
      return classes.filter((c, i) => c === test.y[i]).length / 300;
    };
    const opts = { epochs: 1, batchSize: 64, learningRate: 0.004, optimizer: 'adam' as const, seed: 1 };
    const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 1 };
    const lagging = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, shape);
    await trainModel(tf, lagging, train, { ...opts, batchNormBatches: 0 });
    const precise = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, shape);
    await trainModel(tf, precise, train, opts);
    // Eight steps leave the momentum-0.99 statistics near their initial values: predict() is near chance.
    expect(accuracy(lagging)).toBeLessThan(0.2);
    expect(accuracy(precise)).toBeGreaterThan(accuracy(lagging) + 0.15);
    lagging.dispose();
    precise.dispose();
  });
});
