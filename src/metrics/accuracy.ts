import type { Dataset } from '../data/index.js';
import { inputBatch } from '../engine/batches.js';
import type { InferenceModel, Tf } from '../engine/runtime.js';
import { cancelled, yieldToEventLoop } from '../engine/train.js';

export interface AccuracyResult {
  accuracy: number;
  correct: number;
  count: number;
}

/** Big enough to amortise per-call overhead, small enough to keep peak memory modest. */
export const EVAL_BATCH = 256;

/**
 * Top-1 accuracy over the dataset in its fixed order. Only the predicted class of each batch leaves TF.js
 * (one small int read per batch), so the evaluator adds little over a bare predict loop.
 */
export async function measureAccuracy(
  tf: Tf,
  model: InferenceModel,
  ds: Dataset,
  opts: { batchSize?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<AccuracyResult> {
  const batch = opts.batchSize ?? EVAL_BATCH;
  let correct = 0;
  for (let start = 0; start < ds.count; start += batch) {
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw cancelled();
    const end = Math.min(ds.count, start + batch);
    const predicted = tf.tidy(() => model.predict(inputBatch(tf, ds, undefined, start, end)).argMax(-1));
    const classes = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < classes.length; i++) if (classes[i] === ds.y[start + i]) correct++;
    opts.onProgress?.(end, ds.count);
  }
  return { accuracy: ds.count ? correct / ds.count : 0, correct, count: ds.count };
}
