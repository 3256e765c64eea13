/**
 * distill: knowledge distillation (Hinton, Vinyals & Dean 2015). The current model is the teacher; a new
 * student of a builtin architecture is trained on data.train to match both the hard labels and the teacher's
 * softened predictions:
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
 *
 * The student is `student: { architecture, options }`, or `student: { width }`: the teacher's own builtin
 * architecture with its widths scaled. The planner knows that architecture when the recipe trains the teacher
 * (`model.train`) or an earlier distill built it, so the student is resolved while planning: the step key
 * hashes the concrete student, and a width on a model loaded from a file fails before anything runs.
 *
 * `compareAlone` also trains the same student with the same seed, initial weights, batches and schedule on
 * the hard labels only, and measures teacher, student alone and distilled student on data.eval (the data the
 * gate measures on; it is never trained on), reporting what share of the gap distillation closed.
 */
import type * as TF from '@tensorflow/tfjs';
import { isLabelled, labelsNeeded, type Dataset, type LabelledDataset } from '../../data/index.js';
import { McbError } from '../../errors.js';
import { inputBatch } from '../../engine/batches.js';
import { ARCHITECTURE_NAMES, LENET5_DEFAULTS, MLP_DEFAULTS, MOBILENET_DEFAULT_ALPHA } from '../../engine/index.js';
import type { StoredModel } from '../../model/index.js';
import type { Tf } from '../../engine/runtime.js';
import type { TrainProgress } from '../../engine/train.js';
import { formatDataPath, type TrainingOptions } from '../../recipe/index.js';
import { definePass, type BuiltinArchitecture, type OptionsPlace, type PassInput } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export interface DistillOptions extends TrainingOptions {
  /** The concrete student, with `width` already applied. */
  student: BuiltinArchitecture;
  /** Weight of the hard-label cross-entropy; 1 − alpha weighs the soft term. */
  alpha: number;
  temperature: number;
  compareAlone: boolean;
}

/** Probabilities are floored here before the log (see the file comment). */
const MIN_PROBABILITY = 1e-30;
/** Samples per teacher forward pass and per evaluation batch. */
const PREDICT_BATCH = 256;

export const distill = definePass<DistillOptions>({
  meta: {
    name: 'distill',
    version: 1,
    summary: 'train a smaller builtin student on data.train from the current model (teacher) and the labels',
    docs: DOCS,
    schema,
    models: ['layers', 'graph'],
    stats: STATS,
  },
  defaultOptions: {},
  needs: (options) => (options.compareAlone ? ['train', 'eval'] : ['train']),
  // The hard-label term (weight alpha) reads labels; with alpha 0 the student learns from the teacher alone,
  // so label-free data.train will do. compareAlone trains on the labels alone and scores on data.eval's.
  labels: {
    reads: (options) => (options.compareAlone ? ['train', 'eval'] : options.alpha > 0 ? ['train'] : []),
    why: 'weighs a cross-entropy on labels (alpha, or compareAlone)',
    labelFreeHint: 'set `alpha: 0` (and no `compareAlone`) to learn from the teacher alone',
  },
  dependsOnBackend: () => true,
  resolveOptions(raw, place, input) {
    const o = raw as Partial<Omit<DistillOptions, 'student'>> & {
      student?: { architecture?: string; options?: Record<string, unknown>; width?: number };
    };
    return {
      student: resolveStudent(o.student, place, input),
      alpha: o.alpha ?? 0.1,
      temperature: o.temperature ?? 4,
      epochs: o.epochs ?? 10,
      batchSize: o.batchSize ?? 64,
      learningRate: o.learningRate ?? 1e-3,
      optimizer: o.optimizer ?? 'adam',
      schedule: o.schedule ?? { type: 'constant' },
      seed: o.seed ?? 1,
      compareAlone: o.compareAlone ?? false,
    };
  },

  architectureAfter: (options) => options.student,

  async apply(model, options, ctx) {
    const { tf } = await ctx.engine();
    const { loadForInference, fromLayersModel } = await import('../../engine/runtime.js');
    const { trainModel } = await import('../../engine/train.js');
    const { architectureMisfit, buildArchitecture } = await import('../../engine/architectures/index.js');
    const { measureAccuracy } = await import('../../metrics/accuracy.js');
    const studentAt = ctx.place ? ` at ${ctx.place.at('student')}` : '';
    const where = ctx.place ? `\`${formatDataPath(ctx.place.path)}\`` : 'distill';
    const train = await ctx.data('train');
    // The planner refuses label-free data where this pass reads labels (alpha > 0, compareAlone).
    if (!isLabelled(train) && options.alpha > 0) throw labelsNeeded(train, `${where} with alpha ${options.alpha}`);
    const evalRaw = options.compareAlone ? await ctx.data('eval') : undefined;
    if (evalRaw && !isLabelled(evalRaw)) throw labelsNeeded(evalRaw, `${where}'s compareAlone`);
    const evalData = evalRaw as LabelledDataset | undefined;
    const { architecture, options: archOptions } = options.student;
    const misfit = architectureMisfit(architecture, train.inputShape, archOptions);
    if (misfit)
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${where}: the student cannot take ${train.name}: ${misfit}${studentAt}. Choose a student architecture that fits the data.`,
      );

    // 1. The teacher, once: soft targets for every training sample, and its score on data.eval.
    ctx.progress('teacher soft targets', 0);
    const teacher = await loadForInference(tf, model);
    let soft: Float32Array;
    let classes: number;
    let teacherEval: Score | undefined;
    try {
      ({ soft, classes } = await softTargets(tf, teacher, train, options.temperature, {
        where,
        studentAt,
        architecture,
      }));
      if (evalData) teacherEval = score(await measureAccuracy(tf, teacher, evalData, { signal: ctx.signal }));
    } finally {
      teacher.dispose();
    }

    const build = () =>
      buildArchitecture(tf, architecture, archOptions, {
        inputShape: train.inputShape,
        numClasses: classes,
        seed: options.seed,
      });
    const { epochs, batchSize, learningRate, optimizer, schedule, seed } = options;
    const trainOptions = { epochs, batchSize, learningRate, optimizer, schedule, seed, signal: ctx.signal };
    const phases = options.compareAlone ? 2 : 1;
    const report = (phase: number, name: string) => (p: TrainProgress) =>
      ctx.progress(
        `${name}: epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)}`,
        (phase + p.fraction) / phases,
      );

    // 2. The distilled student.
    const student = build();
    let stored: StoredModel;
    let distilled: { epochLosses: number[] };
    let distilledEval: Score | undefined;
    const params = student.countParams();
    try {
      distilled = await trainModel(tf, student, train, {
        ...trainOptions,
        loss: (output, labels, indices) =>
          distillationLoss(
            tf,
            output,
            labels,
            targetBatch(tf, soft, classes, indices),
            options.alpha,
            options.temperature,
          ),
        onProgress: report(0, 'distill'),
      });
      stored = await fromLayersModel(tf, student);
      if (evalData)
        distilledEval = score(await measureAccuracy(tf, asInference(student), evalData, { signal: ctx.signal }));
    } finally {
      student.dispose();
    }

    // 3. The same student on the hard labels alone: same seed, initial weights, batches and schedule.
    let compare: Record<string, unknown> | undefined;
    if (evalData && teacherEval && distilledEval) {
      const alone = build();
      try {
        const result = await trainModel(tf, alone, train, { ...trainOptions, onProgress: report(1, 'student alone') });
        const aloneEval = score(await measureAccuracy(tf, asInference(alone), evalData, { signal: ctx.signal }));
        const gap = aloneEval.errors - teacherEval.errors;
        compare = {
          data: evalData.name,
          samples: evalData.count,
          errors: { teacher: teacherEval.errors, alone: aloneEval.errors, distilled: distilledEval.errors },
          accuracy: { teacher: teacherEval.accuracy, alone: aloneEval.accuracy, distilled: distilledEval.accuracy },
          // Share of the teacher–student-alone gap that distillation closed (1 = as good as the teacher);
          // null when the student alone is already as good as the teacher.
          gapClosed: gap > 0 ? (aloneEval.errors - distilledEval.errors) / gap : null,
          aloneEpochLosses: result.epochLosses,
        };
      } finally {
        alone.dispose();
      }
    }

    return {
      // A new model: what earlier passes recorded about the teacher's weights does not apply to it.
      model: stored,
      stats: {
        student: { ...options.student, params },
        teacherForwardSamples: train.count,
        trainSamples: train.count,
        epochLosses: distilled.epochLosses,
        ...(compare ? { compare } : {}),
      },
    };
  },
});

interface Score {
  accuracy: number;
  errors: number;
}

function score(r: { accuracy: number; correct: number; count: number }): Score {
  return { accuracy: r.accuracy, errors: r.count - r.correct };
}

function asInference(model: TF.LayersModel) {
  return { predict: (x: TF.Tensor) => model.predict(x) as TF.Tensor, dispose: () => {} };
}

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
    return tf.add(loss, tf.mul(tf.sum(probs), 0)) as TF.Scalar;
  });
}

/**
 * The teacher's softened predictions softmax(log p / T) for every sample of `ds`, in its order, from one pass
 * over the data. Checks that the teacher is a classifier over the data's classes.
 */
async function softTargets(
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
function targetBatch(tf: Tf, soft: Float32Array, classes: number, indices: Uint32Array): TF.Tensor2D {
  const buf = new Float32Array(indices.length * classes);
  for (let k = 0; k < indices.length; k++)
    buf.set(soft.subarray(indices[k]! * classes, (indices[k]! + 1) * classes), k * classes);
  return tf.tensor2d(buf, [indices.length, classes]);
}

/** `student` as written → the concrete architecture and options, with `width` applied to the teacher's. */
function resolveStudent(
  raw: { architecture?: string; options?: Record<string, unknown>; width?: number } | undefined,
  place: OptionsPlace,
  input: PassInput | undefined,
): BuiltinArchitecture {
  const where = `\`${formatDataPath([...place.path, 'student'])}\``;
  const at = `at ${place.at('student')}`;
  const example =
    "`student: { architecture: mlp, options: { hidden: [100] } }` or `student: { width: 0.5 }` (the teacher's architecture at half width)";
  if (raw === undefined)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(place.path)}\` names no student ${`at ${place.at()}`}; add one, e.g. ${example}.`,
    );
  if (raw.architecture !== undefined && raw.width !== undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets both architecture and width ${at}; keep one: \`architecture\` (with \`options\`) names the student, \`width\` scales the teacher's own architecture.`,
    );
  }
  if (raw.architecture !== undefined) {
    if (!ARCHITECTURE_NAMES.includes(raw.architecture))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${where} names an unknown architecture ${JSON.stringify(raw.architecture)} ${at}; known: ${ARCHITECTURE_NAMES.join(', ')}.`,
      );
    return { architecture: raw.architecture, options: raw.options ?? {} };
  }
  if (raw.width === undefined)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} names neither an architecture nor a width ${at}; add one, e.g. ${example}.`,
    );
  if (raw.options !== undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets options with width ${at}; \`options\` go with \`architecture\`. Name the student (\`architecture\` and \`options\`) or scale the teacher's (\`width\` alone).`,
    );
  }
  if (!input?.architecture) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets width ${raw.width}, which scales the teacher's builtin architecture, but the teacher is loaded from a file${input ? ` (model.path at ${input.modelAt})` : ''} and its architecture is not known to mcbuild, ${at}. Name the student instead, e.g. \`student: { architecture: mlp, options: { hidden: [100] } }\`, or train the teacher with \`model.train\`.`,
    );
  }
  return scaleWidth(input.architecture, raw.width);
}

/**
 * A builtin architecture with its widths multiplied by `width`: mlp's hidden units, lenet5's filters and
 * hidden units (each rounded, at least 1), the MobileNets' alpha (their own width multiplier). An option
 * left out is scaled from the architecture's own default.
 */
export function scaleWidth(arch: BuiltinArchitecture, width: number): BuiltinArchitecture {
  const scale = (xs: readonly number[]) => xs.map((x) => Math.max(1, Math.round(x * width)));
  const o = arch.options;
  switch (arch.architecture) {
    case 'mlp':
      return {
        architecture: 'mlp',
        options: { ...o, hidden: scale((o.hidden as number[] | undefined) ?? MLP_DEFAULTS.hidden) },
      };
    case 'lenet5':
      return {
        architecture: 'lenet5',
        options: {
          ...o,
          filters: scale((o.filters as number[] | undefined) ?? LENET5_DEFAULTS.filters),
          hidden: scale((o.hidden as number[] | undefined) ?? LENET5_DEFAULTS.hidden),
        },
      };
    case 'mobilenet-v1':
    case 'mobilenet-v2':
      return {
        architecture: arch.architecture,
        options: { ...o, alpha: ((o.alpha as number | undefined) ?? MOBILENET_DEFAULT_ALPHA) * width },
      };
    default:
      throw new Error(`scaleWidth: no width rule for architecture ${arch.architecture}`);
  }
}
