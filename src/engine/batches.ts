import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../data/index.js';
import type { Tf } from './runtime.js';

/** Gathers samples `order[start..end)` into an input tensor [n, ...inputShape] (one copy, no intermediates). */
export function inputBatch(
  tf: Tf,
  ds: Dataset,
  order: ArrayLike<number> | undefined,
  start: number,
  end: number,
): TF.Tensor {
  const size = ds.inputShape.reduce((a, b) => a * b, 1);
  const n = end - start;
  if (!order) return tf.tensor(ds.x.subarray(start * size, end * size), [n, ...ds.inputShape]);
  const buf = new Float32Array(n * size);
  for (let k = 0; k < n; k++) {
    const i = order[start + k]!;
    buf.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
  }
  return tf.tensor(buf, [n, ...ds.inputShape]);
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
