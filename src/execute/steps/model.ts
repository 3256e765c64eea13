/** The steps that make the baseline: load it from the user's files, or train a builtin architecture. */
import type { CacheEntry } from '../../cache/index.js';
import { isLabelled, labelsNeeded } from '../../data/index.js';
import { modelToFiles, readModelDir } from '../../model/index.js';
import { McbError } from '../../errors.js';
import { measureRawSize } from '../../metrics/index.js';
import type { Step } from '../../plan/index.js';
import { loadChecked } from './slices.js';
import type { StepRuntime } from './runtime.js';

export async function runLoad(step: Step, spec: { path: string }): Promise<CacheEntry> {
  const { model, digest } = await readModelDir(spec.path);
  if (digest !== step.keyInputs.modelDigest) {
    throw new McbError('MCB_MODEL_INVALID', `${spec.path} changed while the build was running; run the build again.`);
  }
  const files = modelToFiles(model);
  return { files, meta: measureRawSize(files, model) };
}

export async function runTrain(
  step: Step,
  spec: Extract<Step['spec'], { kind: 'train' }>,
  rt: StepRuntime,
): Promise<CacheEntry> {
  const { tf } = await rt.engine();
  const { buildArchitecture } = await import('../../engine/architectures/index.js');
  const { trainModel } = await import('../../engine/train.js');
  const { fromLayersModel } = await import('../../engine/runtime.js');
  const t = spec.train;
  const ds = await loadChecked(t.data, step.keyInputs.data, rt.slices);
  // The planner refuses label-free data to model.train; this guards a plan built without it.
  if (!isLabelled(ds)) throw labelsNeeded(ds, `${step.title}`);
  const model = buildArchitecture(tf, t.architecture, t.options, {
    inputShape: ds.inputShape,
    numClasses: ds.numClasses,
    seed: t.seed,
  });
  try {
    const result = await trainModel(tf, model, ds, {
      ...t,
      signal: rt.signal,
      onProgress: (p) =>
        rt.progress(
          `epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} eta ${Math.ceil(p.etaSeconds)}s`,
          p.fraction,
        ),
    });
    const stored = await fromLayersModel(tf, model);
    const files = modelToFiles(stored);
    return {
      files,
      meta: { ...measureRawSize(files, stored), epochLosses: result.epochLosses, trainSamples: ds.count },
    };
  } finally {
    model.dispose();
  }
}
