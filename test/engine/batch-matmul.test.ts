/**
 * BatchMatMul on wasm with a transpose flag (src/engine/kernels/batch-matmul.ts): transposed single products go
 * through an explicit transpose and XNNPACK's path, with the cpu backend's values to float32 rounding; batched
 * products keep the wasm kernel. Shapes as Dense layers' gradients make them, with leading batch dimensions of one.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

const rng = mulberry32(29);
const values = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);

async function product(
  backend: 'cpu' | 'wasm',
  a: [Float32Array, number[]],
  b: [Float32Array, number[]],
  ta: boolean,
  tb: boolean,
) {
  await tf.setBackend(backend);
  const [x, y] = [tf.tensor(a[0], a[1]), tf.tensor(b[0], b[1])];
  let out: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    out = tf.matMul(x, y, ta, tb);
  });
  const result = {
    shape: out!.shape,
    values: Array.from(out!.dataSync()),
    kernels: profile.kernels.map((k) => k.name),
  };
  tf.dispose([x, y, out!]);
  return result;
}

beforeAll(() => registerWasmTrainingKernels());

describe('transposed matMul on wasm', () => {
  it('gives the cpu backend’s products for every transpose flag, 2-D and with leading ones', async () => {
    for (const [m, k, n, lead] of [
      [64, 37, 19, []],
      [5, 3, 7, [1]],
      [9, 64, 33, [1, 1]],
    ] as [number, number, number, number[]][]) {
      for (const [ta, tb] of [
        [true, false],
        [false, true],
        [true, true],
        [false, false],
      ] as const) {
        const a: [Float32Array, number[]] = [values(m * k), [...lead, ...(ta ? [k, m] : [m, k])]];
        const b: [Float32Array, number[]] = [values(k * n), [...lead, ...(tb ? [n, k] : [k, n])]];
        const cpu = await product('cpu', a, b, ta, tb);
        const wasm = await product('wasm', a, b, ta, tb);
        expect(wasm.shape).toEqual(cpu.shape);
        const worst = Math.max(...wasm.values.map((v, i) => Math.abs(v - cpu.values[i]!)));
        expect(worst, `${m}x${k}x${n} ${ta} ${tb}`).toBeLessThanOrEqual(1e-5 * k);
        // A transposed product takes the untransposed kernel after an explicit Transpose.
        if (ta || tb) expect(wasm.kernels).toContain('Transpose');
      }
    }
  });

  it('leaves batched products to the wasm kernel, with the cpu backend’s values', async () => {
    const a: [Float32Array, number[]] = [values(2 * 4 * 3), [2, 3, 4]];
    const b: [Float32Array, number[]] = [values(2 * 3 * 5), [2, 3, 5]];
    const cpu = await product('cpu', a, b, true, false);
    const wasm = await product('wasm', a, b, true, false);
    expect(wasm.kernels).not.toContain('Transpose');
    expect(wasm.values.map((v, i) => Math.abs(v - cpu.values[i]!) <= 1e-5)).not.toContain(false);
  });
});
