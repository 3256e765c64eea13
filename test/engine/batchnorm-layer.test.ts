/**
 * BatchNormalization's training-mode call on wasm through the fused kernels (src/engine/kernels/batchnorm-layer.ts):
 * the same output, moving statistics and gradients as TF.js's own call (run on the cpu backend, which keeps it),
 * the moving-average update bit for bit as TF.js's ops, and every other case left to TF.js.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/index.js';
import { movingAverage } from '../../src/engine/kernels/batchnorm-layer.js';
import { mulberry32 } from '../../src/util/random.js';

const rng = mulberry32(11);
const values = (n: number, offset = 0) => Float32Array.from({ length: n }, () => offset + rng() * 2 - 1);

function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
    maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
  }
  return maxErr / Math.max(1, maxRef);
}

interface Run {
  outputs: Float32Array[];
  moving: Float32Array[];
  grads: Float32Array[];
  kernels: string[];
}

/** Two training-mode calls and the gradients of a weighted sum of the second, on the given backend. */
async function run(
  backend: 'cpu' | 'wasm',
  shape: number[],
  opts: { axis?: number; momentum?: number; training?: boolean },
): Promise<Run> {
  await tf.setBackend(backend);
  const local = mulberry32(3);
  const layer = tf.layers.batchNormalization({ axis: opts.axis ?? -1, momentum: opts.momentum ?? 0.5 });
  const size = shape.reduce((a, b) => a * b, 1);
  const xs = [0, 1].map(() =>
    tf.tensor(
      Float32Array.from({ length: size }, () => 2 + local() * 3),
      shape,
    ),
  );
  const w = tf.tensor(
    Float32Array.from({ length: size }, () => local() * 2 - 1),
    shape,
  );
  layer.build(shape);
  const channels = shape[(opts.axis ?? -1) < 0 ? shape.length - 1 : opts.axis!]!;
  layer.setWeights(
    [1, 0, 0, 2].map((offset) => tf.tensor(Float32Array.from({ length: channels }, () => offset + local() * 2 - 1))),
  );
  const training = opts.training ?? true;
  const before = tf.memory().numTensors;
  const outputs: Float32Array[] = [];
  const profile = await tf.profile(() => {
    for (const x of xs) {
      const y = layer.apply(x, { training }) as tf.Tensor;
      outputs.push(y.dataSync() as Float32Array);
      y.dispose();
    }
  });
  expect(tf.memory().numTensors, 'the calls leave no tensors behind').toBe(before);
  const moving = layer
    .getWeights()
    .slice(2)
    .map((t) => t.dataSync() as Float32Array);
  const kernels = profile.kernels.map((k) => k.name);
  // Only the fused path's gradients are compared (TF.js's own fails for axes other than the last).
  if (opts.axis !== undefined || !training) {
    tf.dispose([...xs, w]);
    return { outputs, moving, grads: [], kernels };
  }
  const vars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xs[1]!, { training }) as tf.Tensor, w)), vars);
  const dx = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(layer.apply(x, { training }) as tf.Tensor, w)))(xs[0]!);
  const result = {
    outputs,
    moving,
    grads: [...vars.map((v) => grads[v.name]!.dataSync() as Float32Array), dx.dataSync() as Float32Array],
    kernels,
  };
  tf.dispose([...xs, w, dx, ...Object.values(grads)]);
  for (const v of layer.weights) v.read().dispose(); // Layer.dispose() wants a layer used in a model.
  return result;
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('BatchNormalization in training mode on wasm', () => {
  it('gives TF.js output, moving statistics and gradients through one fused kernel per call', async () => {
    // Rank 4 (conv), rank 2 (dense) with a batch of 1, channels not a multiple of four.
    for (const shape of [
      [3, 5, 5, 6],
      [1, 7],
      [8, 3],
    ]) {
      const cpu = await run('cpu', shape, {});
      const wasm = await run('wasm', shape, {});
      expect(wasm.kernels.filter((k) => k === 'McbBatchNormTrain')).toHaveLength(2);
      expect(wasm.kernels).not.toContain('FusedBatchNorm');
      expect(cpu.kernels).toContain('FusedBatchNorm');
      for (const key of ['outputs', 'moving', 'grads'] as const) {
        cpu[key].forEach((ref, i) => {
          const err = maxRelErr(wasm[key][i]!, ref);
          expect(err, `${shape.join(',')} ${key}[${i}]: relative error ${err}`).toBeLessThanOrEqual(1e-4);
        });
      }
    }
  });

  it('takes the fused path for an axis written as a list of one, as Keras’s converter writes it', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomUniform([2, 3, 3, 5], 0, 4, 'float32', 9);
    const outputs = [-1, [3] as unknown as number].map((axis) => {
      const layer = tf.layers.batchNormalization({ axis });
      const kernels: string[] = [];
      let values: number[] = [];
      return tf
        .profile(() => {
          const y = layer.apply(x, { training: true }) as tf.Tensor;
          values = Array.from(y.dataSync());
          y.dispose();
        })
        .then((p) => {
          kernels.push(...p.kernels.map((k) => k.name));
          return { values, kernels };
        });
    });
    const [last, list] = await Promise.all(outputs);
    expect(list!.kernels).toContain('McbBatchNormTrain');
    expect(list!.values).toEqual(last!.values);
    x.dispose();
  });

  it('leaves inference mode and axes other than the last to TF.js', async () => {
    for (const opts of [{ training: false }, { axis: 1 }]) {
      const cpu = await run('cpu', [2, 3, 4, 4], opts);
      const wasm = await run('wasm', [2, 3, 4, 4], opts);
      expect(wasm.kernels).not.toContain('McbBatchNormTrain');
      expect(wasm.kernels).toContain('FusedBatchNorm');
      cpu.outputs.forEach((ref, i) => expect(maxRelErr(wasm.outputs[i]!, ref)).toBeLessThanOrEqual(1e-4));
      cpu.moving.forEach((ref, i) => expect(maxRelErr(wasm.moving[i]!, ref)).toBeLessThanOrEqual(1e-4));
    }
  });
});

describe('movingAverage', () => {
  it('is bit for bit TF.js ops: moving - (moving - value) * (1 - momentum) in float32', async () => {
    await tf.setBackend('wasm');
    const moving = values(37, 1);
    const value = values(37, 3);
    for (const momentum of [0.99, 0.5, 0, 2 / 3, 0.1]) {
      const out = new Float32Array(37);
      movingAverage(moving, value, momentum, out);
      const m = tf.tensor(moving);
      const ref = tf.sub(m, tf.mul(tf.sub(m, tf.tensor(value)), 1 - momentum));
      expect(Array.from(out)).toEqual(Array.from(ref.dataSync()));
    }
  });
});
