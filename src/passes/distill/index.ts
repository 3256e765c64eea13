/**
 * distill: knowledge distillation (docs/passes.md, from ./docs.ts). The current model is the teacher; a new
 * student of a builtin architecture is trained on data.train to match both the hard labels and the teacher's
 * softened predictions (the loss and the teacher's soft targets: ./loss.ts; the student: ./options.ts).
 *
 * `compareAlone` also trains the same student with the same seed, initial weights, batches and schedule on
 * the hard labels only, and measures teacher, student alone and distilled student on data.eval (the data the
 * gate measures on; it is never trained on), reporting what share of the gap distillation closed.
 */
import { isLabelled, labelsNeeded } from '../../data/index.js';
import { McbError } from '../../errors.js';
import type { StoredModel } from '../../model/index.js';
import type { TrainProgress } from '../../engine/train.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { distillationLoss, targetBatch } from '../teacher/index.js';
import { softTargets } from './loss.js';
import { DEFAULTS, resolveDistillOptions, type DistillOptions } from './options.js';
import { schema } from './schema.js';

export { distillationLoss } from '../teacher/index.js';
export { scaleWidth, type DistillOptions } from './options.js';

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
  defaultOptions: DEFAULTS,
  needs: (options) => (options.compareAlone ? ['train', 'eval'] : ['train']),
  // The hard-label term (weight alpha) reads labels; with alpha 0 the student learns from the teacher alone,
  // so label-free data.train will do. compareAlone trains on the labels alone and scores on data.eval's.
  labels: {
    reads: (options) => (options.compareAlone ? ['train', 'eval'] : options.alpha > 0 ? ['train'] : []),
    why: 'weighs a cross-entropy on labels (alpha, or compareAlone)',
    labelFreeHint: 'set `alpha: 0` (and no `compareAlone`) to learn from the teacher alone',
  },
  dependsOnBackend: () => true,
  resolveOptions: resolveDistillOptions,

  architectureAfter: (options) => options.student,

  async apply(model, options, ctx) {
    const { tf } = await ctx.engine();
    const { loadForInference, fromLayersModel, layersInference } = await import('../../engine/runtime.js');
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
    const evalData = evalRaw;
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
        loss: ([output], labels, indices) =>
          distillationLoss(
            tf,
            output!,
            labels,
            targetBatch(tf, soft, classes, indices),
            options.alpha,
            options.temperature,
          ),
        onProgress: report(0, 'distill'),
      });
      stored = await fromLayersModel(tf, student);
      if (evalData)
        distilledEval = score(
          await measureAccuracy(tf, layersInference(student, { keep: true }), evalData, { signal: ctx.signal }),
        );
    } finally {
      student.dispose();
    }

    // 3. The same student on the hard labels alone: same seed, initial weights, batches and schedule.
    let compare: Record<string, unknown> | undefined;
    if (evalData && teacherEval && distilledEval) {
      const alone = build();
      try {
        const result = await trainModel(tf, alone, train, { ...trainOptions, onProgress: report(1, 'student alone') });
        const aloneEval = score(
          await measureAccuracy(tf, layersInference(alone, { keep: true }), evalData, { signal: ctx.signal }),
        );
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
