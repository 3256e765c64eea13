/**
 * Losses for learning from a teacher, and the teacher's targets (Hinton, Vinyals & Dean 2015):
 *
 *   distributions: loss = α·CE(y, softmax(z_s)) + (1−α)·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))
 *   other outputs: loss = mean squared difference of student and teacher outputs
 *
 * A model with several outputs sums one such term per output (./train.ts); labels score the first only.
 *
 * T² keeps the soft term's gradients on the scale of the hard term's as T changes (they shrink as 1/T²).
 *
 * Logits. Classifiers end in a softmax, so the losses work from probabilities: log p = z − logsumexp(z) is the
 * logit vector up to a constant per row, and softmax is blind to such a constant, so softmax(log p / T) is
 * exactly softmax(z / T). This holds for any teacher (layers or graph model, builtin or not) and for the
 * student without rebuilding its last layer. Probabilities are floored at 1e-30 before the log: a class
 * below that is a logit gap of 69, whose softened share at T = 4 is e^-17, so nothing the loss can see is lost.
 *
 * Teacher targets are computed once: the teacher runs over data.train a single time before training and its
 * targets (count × width floats) are looked up by sample index in every batch of every epoch.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../../engine/runtime.js';

/** Probabilities are floored here before the log (see the file comment). */
export const MIN_PROBABILITY = 1e-30;

/**
 * The distillation loss of one batch, averaged over its samples: α·CE(labels, probs) + (1−α)·T²·KL(soft ‖
 * softmax(log probs / T)). `probs` are the student's softmax outputs, `soft` the teacher's softened
 * predictions for the same samples. A NaN in `probs` stays visible in the loss (the floor would hide it).
 */
export function distillationLoss(
  tf: Tf,
  probs: TF.Tensor,
  labels: TF.Tensor,
  soft: TF.Tensor,
  alpha: number,
  temperature: number,
): TF.Scalar {
  return tf.tidy(() => {
    const logP = tf.log(tf.maximum(probs, MIN_PROBABILITY));
    const hard = tf.neg(tf.sum(tf.mul(labels, logP), -1));
    const kl = klPerRow(tf, logP, soft, temperature);
    const loss = tf.add(tf.mul(alpha, tf.mean(hard)), tf.mul((1 - alpha) * temperature * temperature, tf.mean(kl)));
    return tf.add<TF.Scalar>(loss, tf.mul(tf.sum(probs), 0));
  });
}

/**
 * The teacher term alone, T²·KL(soft ‖ softmax(log probs / T)) averaged over the batch: for an output the
 * labels do not score (every output of a model with several but the first).
 */
export function softTargetLoss(tf: Tf, probs: TF.Tensor, soft: TF.Tensor, temperature: number): TF.Scalar {
  return tf.tidy(() => {
    const kl = klPerRow(tf, tf.log(tf.maximum(tf.reshape(probs, soft.shape), MIN_PROBABILITY)), soft, temperature);
    return tf.add<TF.Scalar>(tf.mul(temperature * temperature, tf.mean(kl)), tf.mul(tf.sum(probs), 0));
  });
}

/** Each row's KL(soft ‖ softmax(logP / T)), given the student's log-probabilities. */
function klPerRow(tf: Tf, logP: TF.Tensor, soft: TF.Tensor, temperature: number): TF.Tensor {
  const logR = tf.logSoftmax(tf.div(logP, temperature));
  // KL(q ‖ r) = Σ q (log q − log r); a zero q contributes 0 (the floor keeps 0·log 0 from being NaN).
  return tf.sum(tf.mul(soft, tf.sub(tf.log(tf.maximum(soft, MIN_PROBABILITY)), logR)), -1);
}

/** Mean over the batch and the output's values of (student − teacher)², for outputs that are not distributions. */
export function outputMse(tf: Tf, output: TF.Tensor, target: TF.Tensor): TF.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(tf.reshape(output, target.shape), target)));
}

/** Rows `indices` of per-sample targets `width` wide, as a [n, width] tensor. */
export function targetBatch(tf: Tf, targets: Float32Array, width: number, indices: Uint32Array): TF.Tensor2D {
  const buf = new Float32Array(indices.length * width);
  for (let k = 0; k < indices.length; k++)
    buf.set(targets.subarray(indices[k]! * width, (indices[k]! + 1) * width), k * width);
  return tf.tensor2d(buf, [indices.length, width]);
}

/**
 * Whether every row of `values` (rows `width` wide) is a probability distribution: non-negative, summing to 1
 * within 1e-3. That is how a classifier's softmax output looks, whatever the model's format.
 */
export function isDistribution(values: Float32Array, width: number): boolean {
  if (width < 2) return false; // one value summing to 1 is a constant, not a distribution worth matching
  for (let row = 0; row < values.length / width; row++) {
    let sum = 0;
    for (let c = 0; c < width; c++) {
      const v = values[row * width + c]!;
      if (!(v >= 0)) return false;
      sum += v;
    }
    if (!(Math.abs(sum - 1) < 1e-3)) return false;
  }
  return values.length > 0;
}

/** Population variance of all `values` (in float64): what scales an output's MSE term among several outputs. */
export function variance(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length || 1;
  let sum = 0;
  for (const v of values) sum += (v - mean) * (v - mean);
  return sum / (values.length || 1);
}

/** Each row's softmax(log p / T), in place: the teacher's softened predictions. */
export function soften(probs: Float32Array, width: number, temperature: number): Float32Array {
  for (let row = 0; row < probs.length / width; row++) {
    const r = probs.subarray(row * width, (row + 1) * width);
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < width; c++) {
      r[c] = Math.log(Math.max(r[c]!, MIN_PROBABILITY)) / temperature;
      max = Math.max(max, r[c]!);
    }
    let sum = 0;
    for (let c = 0; c < width; c++) {
      r[c] = Math.exp(r[c]! - max);
      sum += r[c]!;
    }
    for (let c = 0; c < width; c++) r[c] = r[c]! / sum;
  }
  return probs;
}
