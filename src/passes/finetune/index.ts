/**
 * finetune: train the current model further on `data.train` with the engine's one training loop, keeping what
 * earlier passes recorded (pruned zeros, clustered values: ../constraints.ts) and freezing the layers an
 * override skips (docs/passes.md, from ./docs.ts). On labels, or from a teacher (../teacher/): the baseline
 * by default when data.train has none.
 */
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import { modelKind } from '../../model/index.js';
import type { TrainingOptions } from '../../recipe/index.js';
import { definePass, optionsByLayer, type PassContext } from '../define.js';
import { readsLabels, resolveTeacher, teacherModels, type TeacherOptions } from '../teacher/index.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export interface FinetuneOptions extends TrainingOptions, TeacherOptions {
  steps?: number;
}

/** The defaults of the options: a short refinement at a small learning rate. */
const DEFAULTS: Required<Omit<FinetuneOptions, 'steps' | keyof TeacherOptions>> = {
  epochs: 1,
  batchSize: 64,
  learningRate: 1e-4,
  optimizer: 'adam',
  schedule: { type: 'constant' },
  seed: 1,
};

export const finetune = definePass<FinetuneOptions>({
  meta: {
    name: 'finetune',
    version: 3,
    summary: 'train the current model further on data.train',
    docs: DOCS,
    schema,
    perLayer: [],
    models: ['layers'],
    refuses: {
      graph: 'TF.js runs a graph model for inference only, so it cannot be trained',
    },
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  needs: () => ['train'],
  labels: {
    reads: (options) => (readsLabels(options) ? ['train'] : []),
    why: 'trains on the labels of data.train (teacherWeight below 1 mixes them in)',
    labelFreeHint: 'remove `teacherWeight` (without labels finetune learns from its teacher alone)',
  },
  models: teacherModels,
  dependsOnBackend: () => true,
  resolveOptions(raw, place, input) {
    const o = raw as Partial<FinetuneOptions>;
    return {
      epochs: o.epochs ?? DEFAULTS.epochs,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
      batchSize: o.batchSize ?? DEFAULTS.batchSize,
      learningRate: o.learningRate ?? DEFAULTS.learningRate,
      optimizer: o.optimizer ?? DEFAULTS.optimizer,
      schedule: o.schedule ?? { ...DEFAULTS.schedule },
      seed: o.seed ?? DEFAULTS.seed,
      // Nothing when it trains on labels alone: such an entry's options, and step key, are what they always were.
      ...resolveTeacher(raw, place, input, 'before-previous'),
    };
  },

  async apply(model, options, ctx) {
    if (modelKind(model.json) !== 'layers') {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `finetune needs a layers model (model.json with format "layers-model")${ctx.place ? `, at ${ctx.place.at()}` : ''}; a graph model has no trainable layers. Remove the finetune pass or start from a layers model.`,
      );
    }
    const { tf } = await ctx.engine();
    const { toLayersModel, fromLayersModel } = await import('../../engine/runtime.js');
    const { trainModel } = await import('../../engine/train.js');
    const { freezeSkipped, modelConstraints } = await import('../constraints.js');
    const ds = await ctx.data('train');
    const layers = await toLayersModel(tf, model);
    // Frozen before the constraints look for trainable kernels, so they leave frozen ones alone too.
    const frozen = freezeSkipped(layers, optionsByLayer(ctx, options));
    const constraints = modelConstraints(tf, layers, model.json);
    try {
      if (frozen.layers.length && layers.trainableWeights.length === 0) {
        // Every layer with weights is skipped: nothing to train (TF.js refuses an optimizer step without variables).
        return {
          model,
          stats: {
            epochLosses: [],
            trainSamples: ds.count,
            kept: [],
            frozen: frozen.layers,
            note: 'every layer with weights is skipped by an override: nothing to train',
          },
        };
      }
      const { teacher: ref, teacherWeight: _w, temperature: _t, ...training } = options;
      const teacher = ref
        ? await (
            await import('../teacher/train.js')
          ).prepareTeacher(tf, ctx, { ...options, teacher: ref }, ds, layers, where(ctx))
        : undefined;
      const result = await trainModel(tf, layers, ds, {
        ...training,
        ...(teacher ? { loss: teacher.loss } : {}),
        ...(constraints.length ? { afterBatch: (m) => constraints.forEach((c) => c.afterBatch(m)) } : {}),
        ...(options.steps === undefined ? {} : { maxBatches: options.steps }),
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.progress(
            `epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} eta ${Math.ceil(p.etaSeconds)}s`,
            p.fraction,
          ),
      });
      frozen.restore();
      const trained = await fromLayersModel(tf, layers);
      return {
        // Metadata earlier passes recorded (which weights are clustered) stays with the model.
        model:
          model.json.userDefinedMetadata === undefined
            ? trained
            : { ...trained, json: { ...trained.json, userDefinedMetadata: model.json.userDefinedMetadata } },
        stats: {
          epochLosses: result.epochLosses,
          trainSamples: ds.count,
          kept: constraints.map((c) => c.describe),
          ...(frozen.layers.length ? { frozen: frozen.layers } : {}),
          ...(teacher ? { teacher: teacher.stats } : {}),
        },
      };
    } finally {
      frozen.dispose();
      constraints.forEach((c) => c.dispose());
      layers.dispose();
    }
  },
});

/** "`passes[2].finetune`", or "finetune" when called directly. */
function where(ctx: PassContext): string {
  return ctx.place ? `\`${formatDataPath(ctx.place.path)}\`` : 'finetune';
}
