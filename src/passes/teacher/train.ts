/**
 * A training pass's teacher made ready to train with: the teacher model runs once over data.train and keeps
 * every output, each output decides its own term (KL to its softened distribution when every row is a
 * probability distribution, mean squared error otherwise: embeddings, regression, boxes), and the loss for the
 * training loop sums the terms, looking each batch's targets up by sample index. With several outputs each MSE
 * term is divided by the variance of the teacher's output over data.train, so a head of large values (boxes in
 * pixels) does not swamp one of small values (a softmax). Imported lazily by the passes' apply(): it runs the
 * engine.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../../data/index.js';
import { inputBatch } from '../../engine/batches.js';
import { loadForInference, type Tf } from '../../engine/runtime.js';
import type { BatchLoss } from '../../engine/train.js';
import { cancelled, McbError } from '../../errors.js';
import type { PassContext } from '../define.js';
import { distillationLoss, isDistribution, outputMse, soften, softTargetLoss, targetBatch, variance } from './loss.js';
import { describeTeacher, type TeacherOptions } from './options.js';

/** Samples per teacher forward pass. */
const PREDICT_BATCH = 256;

/** What a pass records of one output of its teacher (with several outputs). */
export interface TeacherOutputStats {
  /** The output's name in the model being trained. */
  name: string;
  width: number;
  loss: 'kl' | 'mse';
  /** The teacher output's variance over data.train, which its MSE term is divided by. */
  variance?: number;
}

/** What a pass records of its teacher (its stats' `teacher`). */
export interface TeacherStats {
  model: string;
  loss: 'kl' | 'mse' | 'mixed';
  weight: number;
  temperature?: number;
  forwardSamples: number;
  /** With several outputs: each one's term. */
  outputs?: TeacherOutputStats[];
}

export interface PreparedTeacher {
  loss: BatchLoss;
  stats: TeacherStats;
}

/** One output of the teacher: its per-sample targets (softened for `kl`) and how the loss matches them. */
interface Head {
  name: string;
  width: number;
  kind: 'kl' | 'mse';
  targets: Float32Array;
  /** Divides the MSE term (several outputs only). */
  variance?: number;
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
  const teacher = await teacherOutputs(tf, ctx, ds, invalid);
  const studentNames = student.outputs.map((o, i) => student.outputNames[i] ?? o.name);
  const studentWidths = student.outputs.map((o) => (o.shape.slice(1) as number[]).reduce((a, b) => a * b, 1));
  if (studentWidths.length !== teacher.widths.length || studentWidths.some((w, i) => w !== teacher.widths[i]))
    throw invalid(
      `has ${outputList(teacher.names, teacher.widths)} but the model being trained has ${outputList(studentNames, studentWidths)}; name a teacher with the same outputs as the model, in the same order (\`baseline\`, or an earlier entry)`,
    );
  const weight = options.teacherWeight ?? 1;
  const temperature = options.temperature ?? 1;
  const several = teacher.values.length > 1;
  const heads = teacher.values.map((values, i): Head => {
    const width = teacher.widths[i]!;
    const base = { name: studentNames[i]!, width };
    // Softened in place once: the targets of every batch of every epoch.
    if (isDistribution(values, width)) return { ...base, kind: 'kl', targets: soften(values, width, temperature) };
    return { ...base, kind: 'mse', targets: values, ...(several ? { variance: variance(values) } : {}) };
  });
  if (heads[0]!.kind === 'mse' && weight < 1)
    throw invalid(
      `outputs values that are not probabilities${several ? ' in its first output (the one labels score)' : ''}, so its term is a mean squared error and the cross-entropy on labels that teacherWeight ${weight} mixes in has no classes to score; set \`teacherWeight: 1\``,
    );
  const term = (head: Head, output: TF.Tensor, labels: TF.Tensor, indices: Uint32Array, first: boolean): TF.Scalar => {
    const target = targetBatch(tf, head.targets, head.width, indices);
    if (head.kind === 'kl' && first) return distillationLoss(tf, output, labels, target, 1 - weight, temperature);
    const t = head.kind === 'kl' ? softTargetLoss(tf, output, target, temperature) : outputMse(tf, output, target);
    // A constant teacher output has no scale to divide by: its term stays as it is.
    const scaled = head.variance ? tf.div<TF.Scalar>(t, head.variance) : t;
    return first || weight === 1 ? scaled : tf.mul<TF.Scalar>(scaled, weight);
  };
  const loss: BatchLoss = (outputs, labels, indices) =>
    heads.length === 1
      ? term(heads[0]!, outputs[0]!, labels, indices, true)
      : tf.addN(heads.map((h, i) => term(h, outputs[i]!, labels, indices, i === 0)));
  const kinds = new Set(heads.map((h) => h.kind));
  return {
    loss,
    stats: {
      model: name,
      loss: kinds.size > 1 ? 'mixed' : heads[0]!.kind,
      weight,
      ...(kinds.has('kl') ? { temperature } : {}),
      forwardSamples: ds.count,
      ...(several
        ? {
            outputs: heads.map((h) => ({
              name: h.name,
              width: h.width,
              loss: h.kind,
              ...(h.variance === undefined ? {} : { variance: h.variance }),
            })),
          }
        : {}),
    },
  };
}

/** "2 outputs (scores: 10 values, boxes: 4 values)": how messages name a model's outputs. */
function outputList(names: readonly string[], widths: readonly number[]): string {
  const each = widths.map((w, i) => `${names[i] ?? `output ${i}`}: ${w} value${w === 1 ? '' : 's'}`).join(', ');
  return `${widths.length === 1 ? 'one output' : `${widths.length} outputs`} (${each})`;
}

/** Every output of the teacher over `ds`, in its order: count × width values each, with names and widths. */
async function teacherOutputs(
  tf: Tf,
  ctx: PassContext,
  ds: Dataset,
  invalid: (why: string) => McbError,
): Promise<{ names: readonly string[]; widths: number[]; values: Float32Array[] }> {
  const model = await loadForInference(tf, await ctx.model!('teacher'));
  let widths: number[] = [];
  let values: Float32Array[] = [];
  try {
    for (let start = 0; start < ds.count; start += PREDICT_BATCH) {
      if (ctx.signal.aborted) throw cancelled();
      const end = Math.min(ds.count, start + PREDICT_BATCH);
      const x = inputBatch(tf, ds, undefined, start, end);
      let outs: TF.Tensor[];
      try {
        outs = await model.run(x);
      } catch (e) {
        if (e instanceof McbError) throw e;
        throw invalid(
          `does not accept ${ds.name} inputs of shape [batch, ${ds.inputShape.join(', ')}] (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); name a teacher that takes the data the pass trains on`,
        );
      } finally {
        x.dispose();
      }
      try {
        if (start === 0) {
          widths = outs.map((o) => o.shape.slice(1).reduce((a, b) => a * b, 1));
          values = widths.map((w) => new Float32Array(ds.count * w));
        }
        for (let i = 0; i < outs.length; i++) values[i]!.set(await outs[i]!.data(), start * widths[i]!);
      } finally {
        for (const o of outs) o.dispose();
      }
    }
    return { names: model.outputNames, widths, values };
  } finally {
    model.dispose();
  }
}
