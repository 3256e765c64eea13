/**
 * A training pass's teacher made ready to train with: the teacher model runs once over data.train, its
 * outputs decide the loss (KL to its softened distribution when every row is a probability distribution,
 * mean squared error on the outputs otherwise: embeddings, regression), and the loss for the training loop
 * looks each batch's targets up by sample index. Imported lazily by the passes' apply(): it runs the engine.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../../data/index.js';
import { inputBatch } from '../../engine/batches.js';
import { loadForInference, type Tf } from '../../engine/runtime.js';
import type { BatchLoss } from '../../engine/train.js';
import { cancelled, McbError } from '../../errors.js';
import type { PassContext } from '../define.js';
import { distillationLoss, isDistribution, outputMse, soften, targetBatch } from './loss.js';
import { describeTeacher, type TeacherOptions } from './options.js';

/** Samples per teacher forward pass. */
const PREDICT_BATCH = 256;

/** What a pass records of its teacher (its stats' `teacher`). */
export interface TeacherStats {
  model: string;
  loss: 'kl' | 'mse';
  weight: number;
  temperature?: number;
  forwardSamples: number;
}

export interface PreparedTeacher {
  loss: BatchLoss;
  stats: TeacherStats;
}

/**
 * The teacher of a pass whose resolved options have one, over `ds`, for `student` (the model about to train).
 * Errors name the pass's `teacher` option (ctx.place); the teacher is disposed before this returns.
 */
export async function prepareTeacher(
  tf: Tf,
  ctx: PassContext,
  options: TeacherOptions & { teacher: NonNullable<TeacherOptions['teacher']> },
  ds: Dataset,
  student: TF.LayersModel,
  pass: string,
): Promise<PreparedTeacher> {
  const name = describeTeacher(options.teacher);
  const at = ctx.place ? ` (teacher at ${ctx.place.at('teacher')})` : '';
  const invalid = (why: string) => new McbError('MCB_MODEL_INVALID', `${pass}: the teacher, ${name}, ${why}${at}.`);
  if (!ctx.model) throw new Error(`${pass}: a teacher needs ctx.model`);
  ctx.progress(`teacher ${name}: predictions`, 0);
  const model = await loadForInference(tf, await ctx.model('teacher'));
  let values: Float32Array;
  let width = 0;
  try {
    values = new Float32Array(0);
    for (let start = 0; start < ds.count; start += PREDICT_BATCH) {
      if (ctx.signal.aborted) throw cancelled();
      const end = Math.min(ds.count, start + PREDICT_BATCH);
      let out: TF.Tensor;
      try {
        out = tf.tidy(() => model.predict(inputBatch(tf, ds, undefined, start, end)));
      } catch (e) {
        if (e instanceof McbError) throw e;
        throw invalid(
          `does not accept ${ds.name} inputs of shape [batch, ${ds.inputShape.join(', ')}] (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); name a teacher that takes the data the pass trains on`,
        );
      }
      try {
        if (start === 0) {
          width = out.shape.slice(1).reduce((a, b) => a * b, 1);
          values = new Float32Array(ds.count * width);
        }
        values.set(await out.data(), start * width);
      } finally {
        out.dispose();
      }
    }
  } finally {
    model.dispose();
  }
  const studentShape = student.outputs[0]!.shape.slice(1) as number[];
  const studentWidth = studentShape.reduce((a, b) => a * b, 1);
  if (student.outputs.length !== 1 || studentWidth !== width)
    throw invalid(
      `outputs ${width} values per sample but the model being trained ${student.outputs.length === 1 ? `outputs [${studentShape.join(', ')}]` : `has ${student.outputs.length} outputs`}; name a teacher with the same output as the model (\`baseline\`, or an earlier entry)`,
    );
  const distribution = isDistribution(values, width);
  const weight = options.teacherWeight ?? 1;
  const temperature = options.temperature ?? 1;
  if (!distribution && weight < 1)
    throw invalid(
      `outputs values that are not probabilities, so its term is a mean squared error and the cross-entropy on labels that teacherWeight ${weight} mixes in has no classes to score; set \`teacherWeight: 1\``,
    );
  // Softened in place once: the targets of every batch of every epoch.
  const targets = distribution ? soften(values, width, temperature) : values;
  const loss: BatchLoss = distribution
    ? (output, labels, indices) =>
        distillationLoss(tf, output, labels, targetBatch(tf, targets, width, indices), 1 - weight, temperature)
    : (output, _labels, indices) => outputMse(tf, output, targetBatch(tf, targets, width, indices));
  return {
    loss,
    stats: {
      model: name,
      loss: distribution ? 'kl' : 'mse',
      weight,
      ...(distribution ? { temperature } : {}),
      forwardSamples: ds.count,
    },
  };
}
