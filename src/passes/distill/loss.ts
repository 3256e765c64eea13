/**
 * The distillation loss and the teacher's soft targets (Hinton, Vinyals & Dean 2015):
 *
 *   loss = α·CE(y, softmax(z_s)) + (1−α)·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))
 *
 * T² keeps the soft term's gradients on the scale of the hard term's as T changes (they shrink as 1/T²).
 *
 * Logits. Classifiers end in a softmax, so the pass works from probabilities: log p = z − logsumexp(z) is the
 * logit vector up to a constant per row, and softmax is blind to such a constant, so softmax(log p / T) is
 * exactly softmax(z / T). This holds for any teacher (layers or graph model, builtin or not) and for the
 * student without rebuilding its last layer. Probabilities are floored at 1e-30 before the log: a class
 * below that is a logit gap of 69, whose softened share at T = 4 is e^-17, so nothing the loss can see is lost.
 *
 * Teacher targets are computed once: the teacher runs over data.train a single time before training and its
 * soft targets (count × classes floats) are looked up by sample index in every batch of every epoch.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../../data/index.js';
import { inputBatch } from '../../engine/batches.js';
import type { Tf } from '../../engine/runtime.js';
import { McbError } from '../../errors.js';

/** Probabilities are floored here before the log (see the file comment). */
const MIN_PROBABILITY = 1e-30;
/** Samples per teacher forward pass. */
const PREDICT_BATCH = 256;

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
    const logR = tf.logSoftmax(tf.div(logP, temperature));
    // KL(q ‖ r) = Σ q (log q − log r); a zero q contributes 0 (the floor keeps 0·log 0 from being NaN).
    const kl = tf.sum(tf.mul(soft, tf.sub(tf.log(tf.maximum(soft, MIN_PROBABILITY)), logR)), -1);
    const loss = tf.add(tf.mul(alpha, tf.mean(hard)), tf.mul((1 - alpha) * temperature * temperature, tf.mean(kl)));
    return tf.add<TF.Scalar>(loss, tf.mul(tf.sum(probs), 0));
  });
}

/**
 * The teacher's softened predictions softmax(log p / T) for every sample of `ds`, in its order, from one pass
 * over the data. Checks that the teacher is a classifier over the data's classes.
 */
export async function softTargets(
  tf: Tf,
  teacher: { predict(x: TF.Tensor): TF.Tensor },
  ds: Dataset,
  temperature: number,
  msg: { where: string; studentAt: string; architecture: string },
): Promise<{ soft: Float32Array; classes: number }> {
  // Label-free data (alpha 0): the teacher's output width is the class count the student learns.
  let classes = ds.numClasses;
  let out = new Float32Array(classes === undefined ? 0 : ds.count * classes);
  for (let start = 0; start < ds.count; start += PREDICT_BATCH) {
    const end = Math.min(ds.count, start + PREDICT_BATCH);
    let probs: TF.Tensor;
    try {
      probs = tf.tidy(() => teacher.predict(inputBatch(tf, ds, undefined, start, end)));
    } catch (e) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${msg.where}: the teacher (the model this pass receives) does not accept ${ds.name} inputs of shape [batch, ${ds.inputShape.join(', ')}] (${e instanceof Error ? e.message.split('\n')[0] : String(e)}). Distill a teacher trained on data like data.train.`,
      );
    }
    if (classes === undefined) {
      classes = probs.shape[probs.shape.length - 1] ?? 0;
      out = new Float32Array(ds.count * classes);
    }
    try {
      if (probs.shape.length !== 2 || probs.shape[1] !== classes) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${msg.where}: the student's output does not match the teacher's: the student ${msg.architecture} outputs [batch, ${classes}] (one score per class of ${ds.name}) but the teacher outputs [batch, ${probs.shape.slice(1).join(', ')}]${msg.studentAt}. Distill a teacher that classifies the ${classes} classes of data.train, or train on data with the teacher's classes.`,
        );
      }
      if (start === 0) checkProbabilities(await probs.data(), classes, msg.where);
      const q = tf.tidy(() => tf.softmax(tf.div(tf.log(tf.maximum(probs, MIN_PROBABILITY)), temperature)));
      out.set(await q.data(), start * classes);
      q.dispose();
    } finally {
      probs.dispose();
    }
  }
  return { soft: out, classes: classes ?? 0 };
}

/** The teacher must output probabilities (a softmax): its rows are then soft targets after tempering. */
function checkProbabilities(p: ArrayLike<number>, classes: number, where: string): void {
  for (let row = 0; row < p.length / classes; row++) {
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let c = 0; c < classes; c++) {
      sum += p[row * classes + c]!;
      min = Math.min(min, p[row * classes + c]!);
    }
    if (!(Math.abs(sum - 1) < 1e-3 && min >= 0)) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${where}: the teacher's outputs are not probabilities (a row sums to ${sum.toPrecision(4)}, smallest value ${min.toPrecision(4)}); distill needs a classifier whose last layer is a softmax, as every builtin architecture's is.`,
      );
    }
  }
}

/** Rows `indices` of the soft targets, as a [n, classes] tensor. */
export function targetBatch(tf: Tf, soft: Float32Array, classes: number, indices: Uint32Array): TF.Tensor2D {
  const buf = new Float32Array(indices.length * classes);
  for (let k = 0; k < indices.length; k++)
    buf.set(soft.subarray(indices[k]! * classes, (indices[k]! + 1) * classes), k * classes);
  return tf.tensor2d(buf, [indices.length, classes]);
}
