/**
 * The teacher's soft targets for distill (Hinton, Vinyals & Dean 2015), with distill's checks that the teacher
 * is a classifier over the student's classes. The loss, and why the pass works from probabilities rather than
 * logits, are shared with the passes that finetune from a teacher: ../teacher/loss.ts.
 *
 * Teacher targets are computed once: the teacher runs over data.train a single time before training and its
 * soft targets (count × classes floats) are looked up by sample index in every batch of every epoch.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../../data/index.js';
import { inputBatch } from '../../engine/batches.js';
import type { Tf } from '../../engine/runtime.js';
import { McbError } from '../../errors.js';
import { MIN_PROBABILITY } from '../teacher/index.js';

/** Samples per teacher forward pass. */
const PREDICT_BATCH = 256;

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
