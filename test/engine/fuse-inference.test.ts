/**
 * BatchNormalization → ReLU(max) pairs as one kernel at inference on wasm (src/engine/kernels/fuse-inference.ts):
 * which pairs are marked, and that a marked model predicts the same bits as the same model unmarked, through
 * fewer kernels, while training and other backends keep TF.js's calls.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { markBatchNormReluMax, registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { mulberry32 } from '../../src/util/random.js';

/**
 * conv → bn → relu6 → conv → bn → relu(max 1.5) → bn (read twice: by an add and a relu6) → add; and a bn → plain
 * relu. Three of the five batch norms stand before a ReLU with a maximum and are its only reader; one is read twice.
 */
function build(seed: number, low = -0.5, spread = 2): tf.LayersModel {
  const rng = mulberry32(seed);
  const input = tf.input({ shape: [9, 9, 3] });
  const conv = (x: tf.SymbolicTensor, filters: number) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor) => tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, maxValue?: number) =>
    tf.layers.reLU(maxValue === undefined ? {} : { maxValue }).apply(x) as tf.SymbolicTensor;
  const a = relu(bn(conv(input, 6)), 6);
  const b = relu(bn(conv(a, 5)), 1.5);
  const shared = bn(b);
  const c = tf.layers.add().apply([shared, relu(shared, 6)]) as tf.SymbolicTensor;
  const d = relu(bn(c));
  const model = tf.model({ inputs: input, outputs: relu(bn(d), 6) });
  // Statistics and affine parameters far from the defaults, so the batch norms change every value; with low < 0,
  // some moving variances are negative, which makes NaNs (kept by cpu's ReLU, made 0 by wasm's clip).
  model.setWeights(
    model.getWeights().map((w) =>
      tf.tensor(
        Float32Array.from({ length: w.size }, () => rng() * spread + low),
        w.shape,
      ),
    ),
  );
  return model;
}

function predict(model: tf.LayersModel, x: tf.Tensor) {
  let y: tf.Tensor | undefined;
  return tf
    .profile(() => {
      y = model.predict(x) as tf.Tensor;
    })
    .then((p) => {
      const out = { bits: Array.from(new Uint32Array(y!.dataSync().buffer)), kernels: p.kernels.map((k) => k.name) };
      y!.dispose();
      return out;
    });
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
});

describe('batch norm and ReLU(max) fused at inference', () => {
  it('marks only the pairs where the ReLU alone reads the batch norm, the last one included', () => {
    // bn → relu6, bn → relu(1.5), the final bn → relu6; not the shared one, not the one before a plain ReLU.
    expect(markBatchNormReluMax(build(1))).toBe(3);
  });

  it('predicts the same bits as the unmarked model, with one kernel per pair, and leaves no tensor behind', async () => {
    const x = tf.randomUniform([4, 9, 9, 3], -2, 2, 'float32', 5);
    const plain = build(7);
    const fused = build(7);
    markBatchNormReluMax(fused);
    const want = await predict(plain, x);
    await predict(fused, x);
    const before = tf.memory().numTensors;
    const got = await predict(fused, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(got.bits).toEqual(want.bits);
    const count = (ks: string[], k: string) => ks.filter((n) => n === k).length;
    expect(count(got.kernels, 'McbBatchNormReluMax')).toBe(3);
    expect(count(got.kernels, 'FusedBatchNorm')).toBe(count(want.kernels, 'FusedBatchNorm') - 3);
    expect(count(got.kernels, 'McbReluMax')).toBe(count(want.kernels, 'McbReluMax') - 3);
    tf.dispose(x);
  });

  it('keeps TF.js’s calls on the cpu backend, with the same values there', async () => {
    const input = Float32Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.sin(i) * 2);
    // No NaNs here (positive variances): the backends' ReLUs treat NaN differently (wasm's clip makes it 0).
    const run = async (backend: 'cpu' | 'wasm', mark: boolean) => {
      await tf.setBackend(backend);
      const model = build(8, 0.05, 0.5);
      if (mark) markBatchNormReluMax(model);
      const x = tf.tensor4d(input, [2, 9, 9, 3]);
      const out = await predict(model, x);
      tf.dispose(x);
      model.dispose();
      return out;
    };
    const cpu = await run('cpu', true);
    expect(cpu.kernels).not.toContain('McbBatchNormReluMax');
    expect(cpu.bits).toEqual((await run('cpu', false)).bits);
    const wasm = await run('wasm', true);
    expect(wasm.kernels).toContain('McbBatchNormReluMax');
    // The two backends differ in their last bits, not more.
    const values = (bits: number[]) => Array.from(new Float32Array(new Uint32Array(bits).buffer));
    const [a, b] = [values(wasm.bits), values(cpu.bits)];
    for (let i = 0; i < a.length; i++)
      expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(b[i]!)));
  });
});
