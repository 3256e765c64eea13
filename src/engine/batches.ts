import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../data/index.js';
import type { Tf } from './runtime.js';

/**
 * Gathers samples `order[start..end)` into an input tensor [n, ...inputShape] (one copy, no intermediates), of
 * the model's input dtype: a model that takes int32 or bool gets the data's values as such.
 */
export function inputBatch(
  tf: Tf,
  ds: Dataset,
  order: ArrayLike<number> | undefined,
  start: number,
  end: number,
  dtype: 'float32' | 'int32' | 'bool' = 'float32',
): TF.Tensor {
  const size = ds.inputShape.reduce((a, b) => a * b, 1);
  const n = end - start;
  if (!order) return typed(tf, ds.x.subarray(start * size, end * size), [n, ...ds.inputShape], dtype);
  const buf = new Float32Array(n * size);
  for (let k = 0; k < n; k++) {
    const i = order[start + k]!;
    buf.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
  }
  return typed(tf, buf, [n, ...ds.inputShape], dtype);
}

function typed(tf: Tf, values: Float32Array, shape: number[], dtype: 'float32' | 'int32' | 'bool'): TF.Tensor {
  if (dtype === 'float32') return tf.tensor(values, shape);
  // Whole values as read (the planner gives integer inputs unnormalised data); rounding guards float noise.
  if (dtype === 'int32') return tf.tensor(Int32Array.from(values, Math.round), shape, 'int32');
  return tf.tensor(
    Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)),
    shape,
    'bool',
  );
}

/**
 * One-hot labels for `order[start..end)`, built on the JS side so no int tensor has to be created and freed.
 * Label-free data gives rows of zeros (`classes` wide): only a loss that weighs the labels out (distill with
 * alpha 0) trains on it; the planner refuses label-free data to every other training.
 */
export function oneHotBatch(
  tf: Tf,
  ds: Dataset,
  order: ArrayLike<number> | undefined,
  start: number,
  end: number,
  classes = ds.numClasses ?? 0,
): TF.Tensor {
  const n = end - start;
  const buf = new Float32Array(n * classes);
  const y = ds.y;
  if (y) {
    for (let k = 0; k < n; k++) {
      const i = order ? order[start + k]! : start + k;
      buf[k * classes + y[i]!] = 1;
    }
  }
  return tf.tensor2d(buf, [n, classes]);
}
