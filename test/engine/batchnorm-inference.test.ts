/**
 * Inference batch norm on wasm in SIMD (src/engine/kernels/batchnorm-inference.ts, team/simd.wat): the wasm
 * backend's own FusedBatchNorm values bit for bit, for every layout it covers, and that kernel for the rest.
 * The threaded team's parts are checked against the same kernel in test/engine/wasm-threads.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormInferenceOverride } from '../../src/engine/kernels/batchnorm-inference.js';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { teamFor } from '../../src/engine/kernels/team/team.js';
import { mulberry32 } from '../../src/util/random.js';

interface WasmBackend {
  wasm: { cwrap(name: string, ret: null, args: string[]): (...ids: number[]) => void };
  dataIdMap: { get(id: object): { id: number } };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

/** The wasm backend's C++ kernel, called as its own JS wrapper calls it. */
function original(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  offset?: tf.Tensor,
  scale?: tf.Tensor,
  eps = 0.001,
) {
  const backend = tf.backend() as unknown as WasmBackend;
  const run = backend.wasm.cwrap('FusedBatchNorm', null, Array<string>(7).fill('number'));
  const id = (t: tf.Tensor | undefined) => (t ? backend.dataIdMap.get(t.dataId).id : 0);
  const out = backend.makeOutput(x.shape, 'float32');
  run(id(x), id(mean), id(variance), id(offset), id(scale), eps, backend.dataIdMap.get(out.dataId).id);
  return tf.engine().makeTensorFromTensorInfo(out);
}

const rng = mulberry32(23);
const f = Math.fround;
const special = [0, -0, NaN, Infinity, -Infinity, 2 ** -149, -(2 ** -140), 3e38, -3e38, 1e-30];
const values = (n: number, spread: number) =>
  Float32Array.from({ length: n }, (_, i) =>
    i < special.length && spread > 1 ? special[i]! : (rng() * 2 - 1) * spread,
  );

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
});

describe('inference batch norm on wasm', () => {
  it('gives the wasm kernel’s values bit for bit, with per-channel or single parameters, with or without scale and offset', () => {
    // Ours is the registered kernel, and finds the heap for its SIMD loop (else it would hand everything over).
    expect(tf.getKernel('FusedBatchNorm', 'wasm').kernelFunc).toBe(batchNormInferenceOverride.config.kernelFunc);
    expect(teamFor(tf.backend())).toBeDefined();
    for (const [shape, eps] of [
      [[2, 5, 5, 16], 0.001],
      [[3, 7, 7, 5], 1e-5],
      [[4, 9, 3], 0.1],
      [[64, 1], 0.001],
      [[2, 3, 3, 97], 0.001],
      [[1, 40, 40, 4], 0],
    ] as [number[], number][]) {
      const cols = shape[shape.length - 1]!;
      const x = tf.tensor(values(tf.util.sizeFromShape(shape), 50), shape);
      for (const perChannel of [true, false]) {
        const n = perChannel ? cols : 1;
        const mean = tf.tensor1d(values(n, 3));
        const variance = tf.tensor1d(values(n, 1).map((v) => f(Math.abs(v) * 4)));
        const offset = tf.tensor1d(values(n, 2));
        const scale = tf.tensor1d(values(n, 2));
        for (const [o, s] of [
          [offset, scale],
          [undefined, scale],
          [offset, undefined],
          [undefined, undefined],
        ] as const) {
          const ours = tf.batchNorm(x, mean, variance, o, s, eps);
          const theirs = original(x, mean, variance, o, s, eps);
          const [a, b] = [ours.dataSync(), theirs.dataSync()];
          const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
          expect(bits(a as Float32Array), `${shape.join('×')} eps ${eps} ${perChannel}`).toEqual(
            bits(b as Float32Array),
          );
          tf.dispose([ours, theirs]);
        }
        tf.dispose([mean, variance, offset, scale]);
      }
      x.dispose();
    }
  });

  it('leaves no tensor or heap block behind', () => {
    const x = tf.randomUniform([2, 4, 4, 8], -1, 1, 'float32', 3);
    const p = tf.ones([8]);
    tf.batchNorm(x, p, p, p, p).dispose();
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes };
    for (let i = 0; i < 5; i++) tf.batchNorm(x, p, p, p, p).dispose();
    expect({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes }).toEqual(before);
    tf.dispose([x, p]);
  });

  it('hands layouts it does not cover to the wasm kernel, with the same result', () => {
    // Parameters broadcast over more than the channels: the wasm kernel wraps each index around its own size.
    const x = tf.tensor(values(2 * 3 * 4, 5), [2, 3, 4]);
    const mean = tf.tensor(values(12, 1), [3, 4]);
    const variance = tf.onesLike(mean);
    const ours = tf.batchNorm(x, mean, variance);
    const theirs = original(x, mean, variance);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()));
    tf.dispose([x, mean, variance, ours, theirs]);
  });
});
