/**
 * The one training loop: used by the train source (and later finetune and distillation). Shuffles with a
 * seeded PRNG, so the same recipe on the same backend gives byte-identical weights; checks the loss for
 * NaN so a diverging run stops with a hint instead of caching garbage; honours an AbortSignal between
 * batches so watch mode and Ctrl-C can stop it.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../data/index.js';
import { McbError } from '../errors.js';
import { mulberry32, shuffledIndices } from '../util/random.js';
import { inputBatch, oneHotBatch } from './batches.js';
import type { Tf } from './runtime.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adam' | 'sgd' | 'momentum';
  seed: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
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

export async function trainModel(tf: Tf, model: TF.LayersModel, ds: Dataset, opts: TrainOptions): Promise<TrainResult> {
  const optimizer = makeOptimizer(tf, opts.optimizer, opts.learningRate);
  model.compile({ optimizer, loss: nanVisibleCrossEntropy(tf) });
  const random = mulberry32(opts.seed);
  const batches = Math.ceil(ds.count / opts.batchSize);
  const totalBatches = batches * opts.epochs;
  const started = performance.now();
  const epochLosses: number[] = [];
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const order = shuffledIndices(ds.count, random);
      let lossSum = 0;
      for (let b = 0; b < batches; b++) {
        if (opts.signal?.aborted) throw cancelled();
        const start = b * opts.batchSize;
        const end = Math.min(ds.count, start + opts.batchSize);
        const x = inputBatch(tf, ds, order, start, end);
        const y = oneHotBatch(tf, ds, order, start, end);
        let loss: number;
        try {
          loss = (await model.trainOnBatch(x, y)) as number;
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
        lossSum += loss * (end - start);
        const done = epoch * batches + b + 1;
        const elapsed = (performance.now() - started) / 1000;
        opts.onProgress?.({ epoch: epoch + 1, epochs: opts.epochs, batch: b + 1, batches, loss, etaSeconds: (elapsed / done) * (totalBatches - done) });
      }
      epochLosses.push(lossSum / ds.count);
    }
  } finally {
    optimizer.dispose();
  }
  return { finalLoss: epochLosses[epochLosses.length - 1] ?? Number.NaN, epochLosses };
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

export function cancelled(): McbError {
  return new McbError('MCB_CANCELLED', 'the build was cancelled; nothing was cached for the step that was running.', { exitCode: 130 });
}
