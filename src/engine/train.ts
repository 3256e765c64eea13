/**
 * The one training loop: used by the train source, finetune, prune and distill. Shuffles with a
 * seeded PRNG, so the same recipe on the same backend gives byte-identical weights; checks the loss for
 * NaN so a diverging run stops with a hint instead of caching garbage; honours an AbortSignal between
 * batches so watch mode and Ctrl-C can stop it.
 */
import type * as TF from '@tensorflow/tfjs';
import { isLabelled, labelsNeeded, type Dataset } from '../data/index.js';
import { cancelled, McbError } from '../errors.js';
import type { ScheduleSpec } from '../recipe/index.js';
import { derivedSeed, mulberry32, shuffledIndices, withSeededRandom } from '../util/random.js';
import { inputBatch, oneHotBatch } from './batches.js';
import type { Tf } from './runtime.js';
import { learningRateAt } from './schedule.js';
import { recalibrateBatchNorm } from './batchnorm.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd' | 'momentum';
  schedule?: ScheduleSpec;
  seed: number;
  /** Stop after this many batches in all, even mid-epoch. */
  maxBatches?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /**
   * Runs after every optimizer step, inside the loop: where passes keep their invariants while training
   * (pruning masks re-applied, cluster centroids shared). It must dispose what it creates.
   */
  afterBatch?: (model: TF.LayersModel) => void;
  /** Batches used to re-estimate batch-norm statistics after training (default 16; 0 turns it off). */
  batchNormBatches?: number;
  /**
   * Replaces the cross-entropy on one-hot labels (knowledge distillation): the mean loss of one batch, given
   * the model's outputs in training mode (every output, in the model's order; one for most models), the
   * batch's one-hot labels (sized to the first output) and the dataset indices of its samples,
   * so per-sample targets computed beforehand (a teacher's soft targets) can be looked up. Runs inside the
   * optimizer's tidy: the tensors it creates are released by the loop. Without it the loop is unchanged.
   */
  loss?: BatchLoss;
}

export type BatchLoss = (outputs: TF.Tensor[], labels: TF.Tensor, indices: Uint32Array) => TF.Scalar;

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  learningRate: number;
  /** Share of all batches of the run done so far, 0..1. */
  fraction: number;
  /** Seconds left at the current pace. */
  etaSeconds: number;
}

export interface TrainResult {
  finalLoss: number;
  epochLosses: number[];
}

export function makeOptimizer(tf: Tf, kind: TrainOptions['optimizer'], learningRate: number): TF.Optimizer {
  switch (kind) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'adam':
      return tf.train.adam(learningRate);
  }
}

/** Adam reads its `learningRate` field at every step; SGD and momentum keep a scalar set by setLearningRate. */
function setLearningRate(optimizer: TF.Optimizer, lr: number): void {
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

export async function trainModel(tf: Tf, model: TF.LayersModel, ds: Dataset, opts: TrainOptions): Promise<TrainResult> {
  if (ds.count === 0) throw new McbError('MCB_DATASET', `the training data ${ds.name} is empty; check its \`limit\`.`);
  // The planner refuses label-free data to training on labels; a custom loss (distill, alpha 0) may not read them.
  if (!isLabelled(ds) && !opts.loss) throw labelsNeeded(ds, 'training');
  const outputs = model.outputs[0]!.shape;
  const classes = ds.numClasses ?? outputs[outputs.length - 1] ?? 0;
  const optimizer = makeOptimizer(tf, opts.optimizer, opts.learningRate);
  model.compile({ optimizer, loss: nanVisibleCrossEntropy(tf) });
  const random = mulberry32(opts.seed);
  const batches = Math.ceil(ds.count / opts.batchSize);
  const totalBatches = Math.min(batches * opts.epochs, opts.maxBatches ?? Number.POSITIVE_INFINITY);
  const schedule = opts.schedule ?? { type: 'constant' };
  const started = performance.now();
  const epochLosses: number[] = [];
  let step = 0;
  let lr = opts.learningRate;
  try {
    for (let epoch = 0; epoch < opts.epochs && step < totalBatches; epoch++) {
      const order = shuffledIndices(ds.count, random);
      let lossSum = 0;
      let seen = 0;
      for (let b = 0; b < batches && step < totalBatches; b++, step++) {
        await yieldToEventLoop();
        if (opts.signal?.aborted) throw cancelled();
        const next = learningRateAt(opts.learningRate, schedule, step, totalBatches, batches);
        if (next !== lr || step === 0) setLearningRate(optimizer, (lr = next));
        const start = b * opts.batchSize;
        const end = Math.min(ds.count, start + opts.batchSize);
        const x = inputBatch(tf, ds, order, start, end);
        const y = oneHotBatch(tf, ds, order, start, end, classes);
        let loss: number;
        try {
          // The model's noise layers (Dropout and the like) draw from a seed of this run and batch.
          const custom = opts.loss;
          loss = await withSeededRandom(derivedSeed(opts.seed, step), async () =>
            custom
              ? customLossStep(model, optimizer, custom, x, y, order.subarray(start, end))
              : ((await model.trainOnBatch(x, y)) as number),
          );
        } finally {
          x.dispose();
          y.dispose();
        }
        if (!Number.isFinite(loss)) {
          throw new McbError(
            'MCB_TRAINING_DIVERGED',
            `training diverged: the loss became ${loss} in epoch ${epoch + 1}, batch ${b + 1} of ${batches}. Lower the learning rate (now ${opts.learningRate}); nothing was cached for this step.`,
          );
        }
        opts.afterBatch?.(model);
        lossSum += loss * (end - start);
        seen += end - start;
        const done = step + 1;
        const elapsed = (performance.now() - started) / 1000;
        opts.onProgress?.({
          epoch: epoch + 1,
          epochs: opts.epochs,
          batch: b + 1,
          batches,
          loss,
          learningRate: lr,
          fraction: done / totalBatches,
          etaSeconds: (elapsed / done) * (totalBatches - done),
        });
      }
      epochLosses.push(lossSum / seen);
    }
    // The moving statistics lag the weights on short runs; re-estimate them with the final weights.
    if (!opts.signal?.aborted)
      recalibrateBatchNorm(tf, model, ds, {
        batches: opts.batchNormBatches ?? 16,
        batchSize: opts.batchSize,
        seed: opts.seed,
      });
  } finally {
    optimizer.dispose();
  }
  return { finalLoss: epochLosses[epochLosses.length - 1] ?? Number.NaN, epochLosses };
}

/**
 * One optimizer step on a caller-given loss: what trainOnBatch does for a compiled loss (forward in training
 * mode, so dropout and batch-norm behave as in training, gradients of the trainable weights, one update),
 * without its check that the targets have the output's shape.
 */
async function customLossStep(
  model: TF.LayersModel,
  optimizer: TF.Optimizer,
  loss: BatchLoss,
  x: TF.Tensor,
  y: TF.Tensor,
  indices: Uint32Array,
): Promise<number> {
  const variables = model.trainableWeights.map((w) => w.read() as TF.Variable);
  const cost = optimizer.minimize(
    () => {
      // A model with several outputs gives one tensor per output; the loss sums its terms over them.
      const out = model.apply(x, { training: true }) as TF.Tensor | TF.Tensor[];
      return loss(Array.isArray(out) ? out : [out], y, indices);
    },
    true,
    variables,
  )!;
  try {
    return (await cost.data())[0]!;
  } finally {
    cost.dispose();
  }
}

/**
 * Categorical cross-entropy that stays NaN when the predictions are NaN. TF.js clips probabilities before
 * the log, and wasm's clipByValue maps NaN to the lower bound, so a diverged model would report a finite
 * loss of ~16.1 forever. The zero-weighted sum of the predictions changes neither value nor gradient of a
 * healthy batch but carries a NaN through.
 */
function nanVisibleCrossEntropy(tf: Tf) {
  return (yTrue: TF.Tensor, yPred: TF.Tensor): TF.Tensor =>
    tf.tidy(() => tf.metrics.categoricalCrossentropy(yTrue, yPred).add(yPred.sum(-1).mul(0)));
}

/**
 * TF.js's promises on wasm and cpu resolve as microtasks, so a training loop never lets timers, file-watch
 * events or key presses run. One macrotask turn per batch (microseconds) keeps Ctrl-C, watch mode and the
 * progress renderer responsive.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
