/**
 * ReLU layers with maxValue on wasm through one kernel each way (src/engine/kernels/relu6-layer.ts): the wasm
 * backend's relu + clipByValue values bit for bit, TF.js's chained gradients bit for bit (the cpu backend keeps
 * them), and TF.js's call for everything else.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

const rng = mulberry32(17);
const f = Math.fround;
// The bounds exactly, just inside and outside them, signed zeros, subnormals, NaN and infinities, then random values.
const edges = [0, -0, 6, f(6) + 2 ** -21, 6 - 2 ** -21, 2 ** -149, -(2 ** -149), -1, 7, NaN, Infinity, -Infinity];
// 315 values: the edges also end the array, where the SIMD loop takes its last three one at a time.
const xs = [...edges, ...Array.from({ length: 291 }, () => rng() * 16 - 5), ...edges];
const dys = xs.map((_, i) =>
  i % 303 === 3 ? Infinity : i % 303 === 7 ? -Infinity : i % 303 === 1 ? NaN : rng() * 2 - 1,
);

async function layerRun(backend: 'cpu' | 'wasm', maxValue: number | undefined, shape: number[]) {
  await tf.setBackend(backend);
  const layer = tf.layers.reLU(maxValue === undefined ? {} : { maxValue });
  const x = tf.tensor(xs, shape);
  const dy = tf.tensor(dys, shape);
  const before = tf.memory().numTensors;
  let y: tf.Tensor | undefined;
  let dx: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    y = layer.apply(x) as tf.Tensor;
    dx = tf.grads((t: tf.Tensor) => layer.apply(t) as tf.Tensor)([x], dy)[0]!;
  });
  const out = {
    y: Array.from(y!.dataSync()),
    dx: Array.from(dx!.dataSync()),
    kernels: profile.kernels.map((k) => k.name),
  };
  tf.dispose([y!, dx!]);
  // TF.js's own call leaves relu's output behind outside a tidy (the layer runs in one inside models).
  if (backend === 'wasm' && maxValue !== undefined) expect(tf.memory().numTensors).toBe(before);
  // What the wasm backend computes for the same layer without the hook.
  const composite = tf.tidy(() => {
    const r = tf.relu(x);
    return Array.from((maxValue === undefined ? r : tf.clipByValue(r, 0, maxValue)).dataSync());
  });
  tf.dispose([x, dy]);
  return { ...out, composite };
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('ReLU layer with maxValue on wasm', () => {
  it("gives the wasm backend's values and TF.js's gradients bit for bit, through one kernel each way", async () => {
    for (const maxValue of [6, 1.3]) {
      for (const shape of [[xs.length], [3, xs.length / 3]]) {
        const cpu = await layerRun('cpu', maxValue, shape);
        const wasm = await layerRun('wasm', maxValue, shape);
        expect(wasm.kernels.filter((k) => k.startsWith('Mcb'))).toEqual(['McbReluMax', 'McbReluMax', 'McbReluMaxGrad']);
        expect(wasm.kernels).not.toContain('ClipByValue');
        // toEqual tells −0 from 0 and takes NaN as equal to NaN.
        expect(wasm.y, `max ${maxValue} forward`).toEqual(wasm.composite);
        expect(wasm.dx, `max ${maxValue} gradient`).toEqual(cpu.dx);
      }
    }
  });

  it('leaves a ReLU without maxValue, or with maxValue 0, to TF.js', async () => {
    const wasm = await layerRun('wasm', undefined, [xs.length]);
    expect(wasm.kernels.some((k) => k.startsWith('McbReluMax'))).toBe(false);
    expect(wasm.kernels).toContain('Relu');
    expect(wasm.y).toEqual(wasm.composite);
    // clipByValue(x, 0, 0) is a constant fill in TF.js, with no gradient path to x.
    await tf.setBackend('wasm');
    const x = tf.tensor(xs);
    const profile = await tf.profile(() => tf.dispose(tf.layers.reLU({ maxValue: 0 }).apply(x) as tf.Tensor));
    expect(profile.kernels.some((k) => k.name.startsWith('McbReluMax'))).toBe(false);
    x.dispose();
  });
});
