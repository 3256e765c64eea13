import type * as TF from '@tensorflow/tfjs';
import type { Dataset, LabelledDataset } from '../data/index.js';
import { inputBatch } from '../engine/batches.js';
import type { InferenceModel, Tf } from '../engine/runtime.js';
import { yieldToEventLoop } from '../engine/train.js';
import { cancelled } from '../errors.js';
import { topK } from './fidelity.js';
import type { MeasuredOutput } from './output-fidelity.js';

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

/** What measureOutputs gives: every output kept, and accuracy read from the first. */
export interface MeasuredOutputs {
  /** The first kept output's values (count × classes), as the accuracy read them. */
  outputs: Float32Array;
  /** The first kept output's width: the class count for labelled data. */
  classes: number;
  count: number;
  /** Every kept output, in the model's order. */
  all: MeasuredOutput[];
  /** On labelled data: the first kept output's accuracy. */
  accuracy?: AccuracyResult;
}

/**
 * The model's outputs over the dataset in its fixed order (per output: count × width float32), and, when the
 * data has labels, the accuracy of the first kept output. `classes` checks the first output's width (the
 * dataset's class count when it has one); label-free data is compared with the baseline on outputs of any
 * width. `outputs` keeps only the outputs of these names (all by default).
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
    outputs?: readonly string[];
  } = {},
): Promise<MeasuredOutputs> {
  // A model exported for a fixed batch (a detector's [1, h, w, 3]) takes exactly that many samples at a time.
  const batch = model.fixedBatch ?? opts.batchSize ?? EVAL_BATCH;
  const labels = ds.y;
  const keep = keptOutputs(model.outputNames, opts.outputs);
  let all: MeasuredOutput[] | undefined;
  const tally = labels ? new Tally() : undefined;
  for (let start = 0; start < ds.count; start += batch) {
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw cancelled();
    const end = Math.min(ds.count, start + batch);
    const x = inputBatch(tf, ds, undefined, start, end, model.inputDtype);
    let outs: TF.Tensor[];
    try {
      outs = await model.run(x);
    } finally {
      x.dispose();
    }
    try {
      const values = await Promise.all(keep.map((i) => outs[i]!.data()));
      // The first batch tells each output's width.
      all ??= keep.map((i, j) => {
        const width = values[j]!.length / (end - start);
        return { name: model.outputNames[i]!, width, values: new Float32Array(ds.count * width) };
      });
      all.forEach((o, j) => {
        const v = values[j]!;
        if (v.length !== (end - start) * o.width)
          throw new Error(`model output ${o.name} has ${v.length} values for ${end - start} samples of ${o.width}`); // checkOutputs refuses such models first
        o.values.set(v, start * o.width);
      });
    } finally {
      tf.dispose(outs);
    }
    if (tally && labels) tally.add(all[0]!.values, all[0]!.width, labels, start, end);
    opts.onProgress?.(end, ds.count);
  }
  all ??= keep.map((i) => ({ name: model.outputNames[i]!, width: opts.classes ?? 0, values: new Float32Array(0) }));
  const first = all[0]!;
  return {
    outputs: first.values,
    classes: first.width,
    count: ds.count,
    all,
    ...(tally ? { accuracy: tally.result(ds.count) } : {}),
  };
}

/** The indices of the outputs to keep, in the model's order. */
function keptOutputs(names: readonly string[], wanted: readonly string[] | undefined): number[] {
  if (!wanted) return names.map((_, i) => i);
  return wanted.map((w) => {
    const i = names.indexOf(w);
    // The planner checks the names against the model's signature first.
    if (i < 0) throw new Error(`the model has no output named ${w} (it has ${names.join(', ')})`);
    return i;
  });
}

/** Top-1, top-k and per-class counts of one output against the labels. */
class Tally {
  private correct = 0;
  private topK = 0;
  private k = 0;
  private perClass: ClassAccuracy[] = [];

  add(values: Float32Array, width: number, labels: ArrayLike<number>, start: number, end: number): void {
    if (start === 0) {
      this.k = topK(width);
      this.perClass = Array.from({ length: width }, (_, c) => ({ class: c, correct: 0, count: 0, accuracy: 0 }));
    }
    for (let i = start; i < end; i++) {
      const label = labels[i]!;
      const row = i * width;
      let best = 0;
      let above = 0; // outputs strictly above the label's: its rank
      for (let c = 0; c < width; c++) {
        if (values[row + c]! > values[row + best]!) best = c;
        if (values[row + c]! > values[row + label]!) above++;
      }
      const hit = best === label;
      if (hit) this.correct++;
      if (above < this.k) this.topK++;
      const pc = this.perClass[label];
      if (pc) {
        pc.count++;
        if (hit) pc.correct++;
      }
    }
  }

  result(count: number): AccuracyResult {
    for (const pc of this.perClass) pc.accuracy = pc.count ? pc.correct / pc.count : 0;
    const k = this.k;
    return {
      accuracy: count ? this.correct / count : 0,
      correct: this.correct,
      count,
      ...(k ? { topK: { k, accuracy: count ? this.topK / count : 0, correct: this.topK } } : {}),
      perClass: this.perClass,
    };
  }
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
  const end = Math.min(ds.count, model.fixedBatch ?? batchSize);
  const x = inputBatch(tf, ds, undefined, 0, end, model.inputDtype);
  try {
    const info = await tf.profile(async () => {
      const outs = await model.run(x);
      await Promise.all(outs.map((t) => t.data()));
      return outs;
    });
    tf.dispose(info.result);
    return info.peakBytes;
  } finally {
    x.dispose();
  }
}
