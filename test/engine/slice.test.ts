/**
 * Slice on wasm (src/engine/kernels/slice.ts): contiguous slices are cut inside the heap, a whole-tensor slice
 * shares its input's buffer, and every slice gives the cpu backend's values, for each dtype the heap holds.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';

beforeAll(() => registerWasmTrainingKernels());

const cases: [number[], number[], number[]][] = [
  [
    [6, 4, 3],
    [2, 0, 0],
    [3, 4, 3],
  ], // leading rows: contiguous
  [
    [6, 4, 3],
    [1, 2, 0],
    [1, 2, 3],
  ], // inside one row: contiguous
  [
    [6, 4, 3],
    [0, 0, 0],
    [6, 4, 3],
  ], // the whole tensor
  [
    [6, 4, 3],
    [0, 1, 0],
    [6, 2, 3],
  ], // strided: the wasm kernel's case
  [
    [6, 4, 3],
    [1, 0, 1],
    [2, -1, 2],
  ],
  [[10], [3], [0]], // empty
];

async function slices(backend: 'cpu' | 'wasm') {
  await tf.setBackend(backend);
  const out: unknown[] = [];
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    for (const [shape, begin, size] of cases) {
      const n = tf.util.sizeFromShape(shape);
      const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? +(i % 3 === 0) : i * 1.5 - 7));
      const x = tf.tensor(values, shape, dtype);
      const y = tf.slice(x, begin, size);
      out.push([dtype, y.shape, Array.from(y.dataSync())]);
      tf.dispose([x, y]);
    }
  }
  return out;
}

describe('slice on wasm', () => {
  it('gives the cpu backend’s values for contiguous, whole, strided and empty slices of every dtype', async () => {
    expect(await slices('wasm')).toEqual(await slices('cpu'));
  });

  it('shares the input’s buffer for a whole-tensor slice and frees it with the last reference', async () => {
    await tf.setBackend('wasm');
    const buffers = () => tf.engine().backend.numDataIds();
    const x = tf.randomUniform([32, 8, 8, 3]);
    const before = buffers();
    const y = tf.slice(x, 0, 32);
    expect(buffers()).toBe(before);
    const values = Array.from(x.dataSync());
    x.dispose();
    expect(buffers()).toBe(before);
    expect(Array.from(y.dataSync())).toEqual(values);
    y.dispose();
    expect(buffers()).toBe(before - 1);
  });
});
