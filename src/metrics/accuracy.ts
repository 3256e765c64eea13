import type { Dataset, LabelledDataset } from '../data/index.js';
import { inputBatch } from '../engine/batches.js';
import type { InferenceModel, Tf } from '../engine/runtime.js';
import { yieldToEventLoop } from '../engine/train.js';
import { cancelled } from '../errors.js';

export interface ClassAccuracy {
  class: number;
  correct: number;
  count: number;
  accuracy: number;
}

export interface AccuracyResult {
  accuracy: number;
  correct: number;
  count: number;
  /** Top-k accuracy (the label among the k highest outputs), k = min(5, classes − 1); absent for 2 classes. */
  topK?: { k: number; accuracy: number; correct: number };
  /** Accuracy per label, for per-class floors: a compression can hurt one digit while the mean hides it. */
  perClass: ClassAccuracy[];
}

/** Big enough to amortise per-call overhead, small enough to keep peak memory modest. */
export const EVAL_BATCH = 256;

/**
 * Top-1 and top-k accuracy, per class too, over labelled data in its fixed order, and the model's outputs
 * (count × classes float32, as the model gives them) for fidelity to the baseline and paired statistics.
 */
export async function measureAccuracy(
  tf: Tf,
  model: InferenceModel,
  ds: LabelledDataset,
  opts: { batchSize?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<AccuracyResult & { outputs: Float32Array; classes: number }> {
  const { outputs, classes, accuracy } = await measureOutputs(tf, model, ds, opts);
  return { ...accuracy!, outputs, classes };
}

/**
 * The model's outputs over the dataset in its fixed order (count × classes float32), and, when the data has
 * labels, the accuracy. `classes` is the output width: the dataset's class count when it has one, else the
 * model's (label-free data is compared with the baseline on outputs of any width).
 */
export async function measureOutputs(
  tf: Tf,
  model: InferenceModel,
  ds: Dataset,
  opts: {
    batchSize?: number;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
    classes?: number;
  } = {},
): Promise<{ outputs: Float32Array; classes: number; count: number; accuracy?: AccuracyResult }> {
  const batch = opts.batchSize ?? EVAL_BATCH;
  const labels = ds.y;
  let classes = opts.classes ?? ds.numClasses;
  let outputs = new Float32Array(classes === undefined ? 0 : ds.count * classes);
  let perClass: ClassAccuracy[] = [];
  let k = 0;
  let correct = 0;
  let topK = 0;
  for (let start = 0; start < ds.count; start += batch) {
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw cancelled();
    const end = Math.min(ds.count, start + batch);
    const out = tf.tidy(() => model.predict(inputBatch(tf, ds, undefined, start, end)));
    const values = (await out.data()) as Float32Array;
    out.dispose();
    if (classes === undefined) {
      // Label-free data: the first batch tells the output width.
      classes = values.length / (end - start);
      outputs = new Float32Array(ds.count * classes);
    }
    if (start === 0) {
      k = classes > 2 ? Math.min(5, classes - 1) : 0;
      perClass = Array.from({ length: classes }, (_, c) => ({ class: c, correct: 0, count: 0, accuracy: 0 }));
    }
    if (values.length !== (end - start) * classes)
      throw new Error(`model output has ${values.length} values for ${end - start} samples of ${classes} classes`); // checkInputShape refuses such models first
    outputs.set(values, start * classes);
    if (labels) {
      for (let i = 0; i < end - start; i++) {
        const label = labels[start + i]!;
        const row = i * classes;
        let best = 0;
        let above = 0; // outputs strictly above the label's: its rank
        for (let c = 0; c < classes; c++) {
          if (values[row + c]! > values[row + best]!) best = c;
          if (values[row + c]! > values[row + label]!) above++;
        }
        const hit = best === label;
        if (hit) correct++;
        if (above < k) topK++;
        const pc = perClass[label];
        if (pc) {
          pc.count++;
          if (hit) pc.correct++;
        }
      }
    }
    opts.onProgress?.(end, ds.count);
  }
  classes ??= 0;
  if (!labels) return { outputs, classes, count: ds.count };
  for (const pc of perClass) pc.accuracy = pc.count ? pc.correct / pc.count : 0;
  return {
    outputs,
    classes,
    count: ds.count,
    accuracy: {
      accuracy: ds.count ? correct / ds.count : 0,
      correct,
      count: ds.count,
      ...(k ? { topK: { k, accuracy: ds.count ? topK / ds.count : 0, correct: topK } } : {}),
      perClass,
    },
  };
}

/**
 * Peak TF.js tensor memory (bytes) while the model evaluates one batch of EVAL_BATCH samples, weights included:
 * what the evaluation needs at its highest, the batches being sequential and disposed. From TF.js's profiler,
 * so it counts the backend's tensors (wasm heap or native), not the JavaScript heap.
 */
export async function measurePeakMemory(
  tf: Tf,
  model: InferenceModel,
  ds: Dataset,
  batchSize = EVAL_BATCH,
): Promise<number> {
  const end = Math.min(ds.count, batchSize);
  const x = inputBatch(tf, ds, undefined, 0, end);
  try {
    const info = await tf.profile(() => model.predict(x));
    tf.dispose(info.result);
    return info.peakBytes;
  } finally {
    x.dispose();
  }
}
