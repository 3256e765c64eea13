/**
 * The fused training-mode batch norm kernels (src/engine/kernels/batchnorm-train.ts) against TF.js's own composite
 * (tf.moments + tf.batchNorm and its autodiff) on the real wasm backend: forward, gradients of x, γ and β, and
 * gradients that reach the mean and variance outputs.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { BATCH_NORM_TRAIN } from '../../src/engine/kernels/batchnorm-train.js';
import { mulberry32 } from '../../src/util/random.js';

const rng = mulberry32(7);
const random = (shape: number[], offset = 0, spread = 1) =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + spread * (rng() * 2 - 1)),
    shape,
  );

function expectClose(actual: tf.Tensor, expected: tf.Tensor, label: string): void {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(actual.shape, label).toEqual(expected.shape);
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < e.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(e[i]!));
    maxErr = Math.max(maxErr, Math.abs(a[i]! - e[i]!));
  }
  expect(maxErr, `${label}: max abs error ${maxErr} (max |ref| ${maxRef})`).toBeLessThanOrEqual(
    1e-4 * Math.max(1, maxRef),
  );
}

const EPSILON = 1e-3;

/** TF.js layers' training-mode computation: moments over every axis but the last, then batchNorm. */
function composite(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor[] {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return [tf.batchNorm(x, mean, variance, beta, gamma, EPSILON), mean, variance];
}

function fused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor[] {
  return tf.engine().runKernel<tf.Tensor[]>(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon: EPSILON });
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

// Batch of 1, channels that are not a multiple of four, more rows than one 64-row block, ranks 2 to 4.
const shapes = [
  [1, 3, 3, 3],
  [2, 6],
  [1, 5],
  [4, 7, 7, 5],
  [3, 9, 9, 8],
  [2, 10, 13],
  [64, 4, 4, 12],
];

describe('McbBatchNormTrain on wasm', () => {
  it('matches tf.moments + tf.batchNorm in the forward pass, without leaks', () => {
    for (const shape of shapes) {
      const c = shape[shape.length - 1]!;
      // An offset far from zero checks that the statistics do not lose digits to the mean.
      const x = random(shape, 3, 2);
      const gamma = random([c], 1);
      const beta = random([c]);
      const before = tf.memory().numTensors;
      const out = fused(x, gamma, beta);
      expect(tf.memory().numTensors, 'three outputs, nothing else').toBe(before + 3);
      const ref = composite(x, gamma, beta);
      ['y', 'mean', 'variance'].forEach((name, i) => expectClose(out[i]!, ref[i]!, `${shape.join(',')} ${name}`));
      tf.dispose([x, gamma, beta, ...out, ...ref]);
    }
  });

  it('has the gradients of TF.js autodiff for x, gamma and beta, also through the mean and variance outputs', () => {
    for (const shape of shapes) {
      const c = shape[shape.length - 1]!;
      const [x, gamma, beta, w] = [random(shape, 0.5), random([c], 1), random([c]), random(shape)];
      const [u, v] = [random([c]), random([c])];
      for (const throughStats of [false, true]) {
        // A weighted sum of the output (and of the statistics) as the loss.
        const loss = (run: typeof fused) => (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const [y, mean, variance] = run(xs, g, b);
          const main = tf.sum(tf.mul(y!, w));
          return throughStats ? tf.addN([main, tf.sum(tf.mul(mean!, u)), tf.sum(tf.mul(variance!, v))]) : main;
        };
        const before = tf.memory().numTensors;
        const got = tf.grads(loss(fused))([x, gamma, beta]);
        const want = tf.grads(loss(composite))([x, gamma, beta]);
        ['dx', 'dgamma', 'dbeta'].forEach((name, i) =>
          expectClose(
            got[i]!,
            want[i]!,
            `${shape.join(',')} ${name}${throughStats ? ' (through the statistics)' : ''}`,
          ),
        );
        tf.dispose([...got, ...want]);
        expect(tf.memory().numTensors).toBe(before);
      }
      tf.dispose([x, gamma, beta, w, u, v]);
    }
  });
});

describe('the batch statistics', () => {
  it('keep the variance of data far from zero, for any column count and more than one row block', async () => {
    await tf.setBackend('wasm');
    for (const [rows, cols] of [
      [1, 1],
      [130, 7],
      [200, 4],
    ] as const) {
      const src = Float32Array.from({ length: rows * cols }, (_, i) => 1e4 + (i % 5) * 0.01 + (i % cols));
      const x = tf.tensor2d(src, [rows, cols]);
      const [gamma, beta] = [tf.ones([cols]), tf.zeros([cols])];
      const outs = tf.engine().runKernel<tf.Tensor[]>(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon: 0.001 });
      const [mean, variance] = [outs[1]!.dataSync(), outs[2]!.dataSync()];
      for (let c = 0; c < cols; c++) {
        let m = 0;
        for (let r = 0; r < rows; r++) m += src[r * cols + c]!;
        m /= rows;
        let v = 0;
        for (let r = 0; r < rows; r++) v += (src[r * cols + c]! - m) ** 2;
        v /= rows;
        expect(mean[c]).toBe(Math.fround(m));
        expect(Math.abs(variance[c]! - v)).toBeLessThanOrEqual(1e-6 * v + 1e-12);
      }
      tf.dispose([x, gamma, beta, ...outs]);
    }
  });
});
