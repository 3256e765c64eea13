/**
 * Relu's and ClipByValue's gradients on wasm as one pass (src/engine/kernels/activation-grads.ts): the same bits as
 * TF.js's composite gradients (which the cpu backend keeps), at the boundaries, for NaN and infinities too.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

const rng = mulberry32(5);
const f = Math.fround;
// Bounds exactly, just inside and outside them, signed zeros, NaN and infinities, then random values.
const edges = [0, -0, 6, f(6) + 2 ** -21, 6 - 2 ** -21, 2 ** -149, -(2 ** -149), -1, 7, NaN, Infinity, -Infinity];
const xs = [...edges, ...Array.from({ length: 300 }, () => rng() * 16 - 5)];
// Upstream gradients with negative values (dy·0 is −0), infinities and NaN where it matters.
const dys = xs.map((_, i) => (i === 3 ? Infinity : i === 8 ? -Infinity : i === 1 ? NaN : rng() * 2 - 1));

interface Case {
  name: string;
  kernel: string;
  fn: (x: tf.Tensor) => tf.Tensor;
}

const cases: Case[] = [
  { name: 'relu', kernel: 'McbReluGrad', fn: (x) => tf.relu(x) },
  { name: 'clipByValue(0, 6)', kernel: 'McbClipByValueGrad', fn: (x) => tf.clipByValue(x, 0, 6) },
  // Bounds that float32 cannot hold: TF.js compares against their float32 roundings.
  { name: 'clipByValue(0.1, 5.3)', kernel: 'McbClipByValueGrad', fn: (x) => tf.clipByValue(x, 0.1, 5.3) },
];

async function gradient(backend: 'cpu' | 'wasm', c: Case, shape: number[]) {
  await tf.setBackend(backend);
  const x = tf.tensor(
    xs.map((v) => (c.name.includes('0.1') && v === 6 ? f(0.1) : v)),
    shape,
  );
  const dy = tf.tensor(dys, shape);
  const before = tf.memory().numTensors;
  let dx: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    dx = tf.grads((t: tf.Tensor) => c.fn(t))([x], dy)[0]!;
  });
  const values = Array.from(dx!.dataSync());
  tf.dispose([x, dy, dx!]);
  expect(tf.memory().numTensors).toBe(before - 2);
  return { values, kernels: profile.kernels.map((k) => k.name) };
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('Relu and ClipByValue gradients on wasm', () => {
  it('give TF.js values bit for bit (signed zeros and boundaries included) through one kernel', async () => {
    for (const c of cases) {
      for (const shape of [[xs.length], [2, xs.length / 2]]) {
        const cpu = await gradient('cpu', c, shape);
        const wasm = await gradient('wasm', c, shape);
        expect(wasm.kernels).toContain(c.kernel);
        expect(wasm.kernels).not.toContain('Select');
        expect(wasm.kernels).not.toContain('Step');
        expect(cpu.kernels).not.toContain(c.kernel);
        // toEqual tells −0 from 0 and takes NaN as equal to NaN.
        expect(wasm.values, c.name).toEqual(cpu.values);
      }
    }
  });
});
