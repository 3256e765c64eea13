/**
 * overrideGradientOnWasm (src/engine/kernels/gradient-override.ts): the replacement runs on wasm only, hands the
 * cases it declines and every other backend to the gradient it replaced, and installs once.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { overrideGradientOnWasm } from '../../src/engine/kernels/gradient-override.js';

const KERNEL = 'McbTestDouble';

beforeAll(async () => {
  // A kernel y = 2x on both backends, with TF.js-style gradient dx = 2·dy.
  for (const backendName of ['cpu', 'wasm']) {
    tf.registerKernel({
      kernelName: KERNEL,
      backendName,
      kernelFunc: ({ inputs }) => tf.mul(inputs.x as tf.Tensor, 2),
    });
  }
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['x'],
    gradFunc: (dy) => ({ x: () => tf.mul(dy as tf.Tensor, 2) }),
  });
  await tf.setBackend('wasm');
  await tf.ready();
});

async function gradientOf(backend: 'cpu' | 'wasm', values: number[]): Promise<number[]> {
  await tf.setBackend(backend);
  const x = tf.tensor(values);
  const [dx] = tf.grads((t: tf.Tensor) => tf.engine().runKernel<tf.Tensor>(KERNEL, { x: t }))([x]);
  const out = Array.from(dx!.dataSync());
  tf.dispose([x, dx!]);
  return out;
}

describe('overrideGradientOnWasm', () => {
  it('replaces the gradient on wasm only, falls back when declined, and installs once', async () => {
    let calls = 0;
    // dx = 3·dy for inputs of length 2 (a "wrong" gradient, so which one ran is visible); others are declined.
    const replacement = (dy: tf.Tensor, [x]: tf.Tensor[]) => {
      calls++;
      return x!.size === 2 ? { x: () => tf.mul(dy, 3) } : undefined;
    };
    overrideGradientOnWasm(KERNEL, replacement);
    const installed = tf.getGradient(KERNEL);
    overrideGradientOnWasm(KERNEL, replacement);
    expect(tf.getGradient(KERNEL)).toBe(installed);
    expect(await gradientOf('wasm', [1, 2])).toEqual([3, 3]);
    expect(await gradientOf('wasm', [1, 2, 3])).toEqual([2, 2, 2]);
    expect(calls).toBe(2);
    expect(await gradientOf('cpu', [1, 2])).toEqual([2, 2]);
    expect(calls).toBe(2);
  });

  it('refuses a kernel without a gradient to replace', () => {
    expect(() => overrideGradientOnWasm('McbNoSuchKernel', () => undefined)).toThrow(/no gradient/);
  });
});
