/**
 * Mean's gradient on wasm as divide-then-tile (src/engine/kernels/mean-grad.ts): TF.js's values bit for bit (the cpu
 * backend keeps TF.js's gradient) for every axis set, with no full-size ones or Multiply.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

const cases: Array<{ shape: number[]; axis?: number | number[]; keepDims?: boolean }> = [
  { shape: [6, 4, 4, 5], axis: [1, 2] }, // a global average pool
  { shape: [7] }, // a loss's mean over the batch
  { shape: [3, 4, 5], axis: [0, 2], keepDims: true },
  { shape: [2, 3, 7], axis: -1 },
  { shape: [1, 3, 3, 3], axis: [0, 1, 2] },
];

async function gradient(backend: 'cpu' | 'wasm', c: (typeof cases)[number]) {
  await tf.setBackend(backend);
  const rng = mulberry32(9);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(
    Float32Array.from({ length: size }, () => rng() * 2 - 1),
    c.shape,
  );
  const outShape = tf.tidy(() => tf.mean(x, c.axis, c.keepDims).shape);
  const dy = tf.tensor(
    Float32Array.from(
      {
        length: Math.max(
          1,
          outShape.reduce((a, b) => a * b, 1),
        ),
      },
      () => rng() * 3 - 1,
    ),
    outShape,
  );
  let dx: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    dx = tf.grads((t: tf.Tensor) => tf.mean(t, c.axis, c.keepDims))([x], dy)[0]!;
  });
  expect(dx!.shape).toEqual(c.shape);
  const values = Array.from(dx!.dataSync());
  tf.dispose([x, dy, dx!]);
  return { values, kernels: profile.kernels.map((k) => k.name) };
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('Mean gradient on wasm', () => {
  it('gives TF.js values bit for bit without materialising ones(x.shape)', async () => {
    for (const c of cases) {
      const before = tf.memory().numTensors;
      const cpu = await gradient('cpu', c);
      const wasm = await gradient('wasm', c);
      expect(tf.memory().numTensors).toBe(before);
      // TF.js's multiplies dy by ones(x.shape); the replacement multiplies nothing.
      expect(cpu.kernels).toContain('Multiply');
      expect(wasm.kernels).not.toContain('Multiply');
      expect(wasm.kernels).toContain('Tile');
      expect(wasm.values, JSON.stringify(c)).toEqual(cpu.values);
    }
  });
});
