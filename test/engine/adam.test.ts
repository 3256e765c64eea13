/**
 * Adam on wasm as one kernel per variable (src/engine/kernels/adam.ts): the same bits as TF.js's AdamOptimizer (kept
 * by the cpu backend), over several steps with a changing learning rate, both gradient forms, a missing gradient,
 * and the optimizer's state as TF.js keeps it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

const shapes = [[3, 3, 1, 5], [7], [1]];

async function train(backend: 'cpu' | 'wasm') {
  await tf.setBackend(backend);
  const rng = mulberry32(13);
  const values = (shape: number[]) =>
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng() * 2 - 1) * 10 ** (rng() * 4 - 3));
  const vars = shapes.map((s, i) => tf.variable(tf.tensor(values(s), s), true, `${backend}_v${i}`));
  const adam = tf.train.adam(0.01);
  const before = tf.memory().numTensors;
  let kernels: string[] = [];
  for (let step = 0; step < 4; step++) {
    // As train.ts's schedule does: Adam reads this (protected) field at every step.
    (adam as unknown as { learningRate: number }).learningRate = 0.01 / (step + 1);
    const grads = vars.map((v) => ({ name: v.name, tensor: tf.tensor(values(v.shape), v.shape) }));
    // The map form, with the last variable's gradient missing on one step; the array form on the others.
    const arg = step === 2 ? Object.fromEntries(grads.slice(0, -1).map((g) => [g.name, g.tensor])) : grads;
    const profile = await tf.profile(() => adam.applyGradients(arg as Parameters<typeof adam.applyGradients>[0]));
    if (step === 0) kernels = profile.kernels.map((k) => k.name);
    tf.dispose(grads.map((g) => g.tensor));
  }
  // Two moments per variable were added, nothing else.
  expect(tf.memory().numTensors).toBe(before + 2 * vars.length);
  const weights = await adam.getWeights();
  const state = weights.map((w) => ({
    name: w.name.replace(`${backend}_`, ''),
    values: Array.from(w.tensor.dataSync()),
  }));
  const result = { values: vars.map((v) => Array.from(v.dataSync())), state, kernels, iterations: adam.iterations };
  adam.dispose();
  tf.dispose(vars);
  return result;
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('Adam on wasm', () => {
  it('updates weights and moments bit for bit as TF.js, one kernel per variable', async () => {
    const cpu = await train('cpu');
    const wasm = await train('wasm');
    expect(wasm.kernels.filter((k) => k === 'McbAdamUpdate')).toHaveLength(shapes.length);
    expect(wasm.kernels).not.toContain('Sqrt');
    expect(cpu.kernels).toContain('Sqrt');
    expect(wasm.values).toEqual(cpu.values);
    expect(wasm.state).toEqual(cpu.state);
    expect(wasm.iterations).toBe(4);
  });
});
