/** The measuring steps: evaluate a model on the eval data, and time the baseline and the result side by side. */
import type { CacheEntry } from '../../cache/index.js';
import type { Dataset } from '../../data/index.js';
import { filesToModel } from '../../model/index.js';
import type { Engine, InferenceModel } from '../../engine/runtime.js';
import { cancelled, McbError } from '../../errors.js';
import {
  measureFidelity,
  measureSize,
  modelCost,
  nonZeroParams,
  pairedOutcomes,
  type Metrics,
} from '../../metrics/index.js';
import type { Step } from '../../plan/index.js';
import type { StepRuntime } from './runtime.js';
import { loadChecked } from './slices.js';

type EvalSpec = Extract<Step['spec'], { kind: 'eval' }>;
type LatencySpec = Extract<Step['spec'], { kind: 'latency' }>;

export async function runEval(step: Step, spec: EvalSpec, inputs: CacheEntry[], rt: StepRuntime): Promise<CacheEntry> {
  const { tf, backend } = await rt.engine();
  const { loadForInference } = await import('../../engine/runtime.js');
  const { measureOutputs, measurePeakMemory } = await import('../../metrics/accuracy.js');
  const { measureLatency } = await import('../../metrics/latency.js');
  const stored = filesToModel(inputs[0]!.files);
  const ds = await loadChecked(spec.data, step.keyInputs.data, rt.slices);
  const model = await loadForInference(tf, stored);
  try {
    const width = checkInputShape(tf, model, ds, step);
    const {
      outputs,
      classes,
      count,
      accuracy: acc,
    } = await measureOutputs(tf, model, ds, {
      classes: width,
      signal: rt.signal,
      onProgress: (done, total) => rt.progress(`${done}/${total} samples`, done / total),
    });
    // The result is compared with the baseline's outputs, kept in the baseline's eval entry.
    const baselineOutputs = spec.role === 'result' ? inputs[1]?.files.get(OUTPUTS_FILE) : undefined;
    const baselineFloats = baselineOutputs ? floatsOf(baselineOutputs) : undefined;
    if (baselineFloats && baselineFloats.length !== outputs.length) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `${step.title}: the result gives ${classes} outputs per sample but the baseline gave ${baselineFloats.length / Math.max(1, count)}; fidelity compares outputs of the same width, so the passes must keep the model's output layer.`,
      );
    }
    const fidelity = baselineFloats ? measureFidelity(baselineFloats, outputs, classes) : undefined;
    // Label-free data has no right answers: accuracy and paired outcomes are left out, fidelity remains.
    const paired = baselineFloats && ds.y ? pairedOutcomes(baselineFloats, outputs, ds.y, classes) : undefined;
    const peakBytes = await measurePeakMemory(tf, model, ds);
    rt.progress('measuring latency');
    const latency = await measureLatency(tf, model, ds, backend, {
      signal: rt.signal,
      ...spec.latency,
    });
    if (rt.signal.aborted) throw cancelled();
    const cost = modelCost(stored.json);
    const metrics: Metrics = {
      ...(acc ?? {}),
      count,
      ...measureSize(stored),
      nonZeroParams: nonZeroParams(stored),
      peakBytes,
      ...(fidelity ? { fidelity } : {}),
      ...(paired ? { paired } : {}),
      ...('unavailable' in cost ? {} : { macs: cost.macs, flops: cost.flops }),
      latency,
    };
    return {
      files: new Map([[OUTPUTS_FILE, new Uint8Array(outputs.buffer, outputs.byteOffset, outputs.byteLength)]]),
      meta: { ...metrics },
    };
  } finally {
    model.dispose();
  }
}

export async function runLatency(
  step: Step,
  spec: LatencySpec,
  inputs: CacheEntry[],
  rt: StepRuntime,
): Promise<CacheEntry> {
  const { tf, backend } = await rt.engine();
  const { loadForInference } = await import('../../engine/runtime.js');
  const { compareLatency } = await import('../../metrics/latency-compare.js');
  const ds = await loadChecked(spec.data, step.keyInputs.data, rt.slices);
  const baseline = await loadForInference(tf, filesToModel(inputs[0]!.files));
  try {
    const result = await loadForInference(tf, filesToModel(inputs[1]!.files));
    try {
      rt.progress('timing baseline and result in turn');
      const comparison = await compareLatency(tf, baseline, result, ds, backend, {
        signal: rt.signal,
        ...spec.latency,
      });
      if (rt.signal.aborted) throw cancelled();
      return { files: new Map(), meta: { ...comparison } };
    } finally {
      result.dispose();
    }
  } finally {
    baseline.dispose();
  }
}

/**
 * A model that does not fit the data fails here with a readable message instead of deep inside TF.js.
 * Returns the model's output width: the class count for labelled data (more outputs than the largest label
 * when the class count was only inferred from the labels), any width for label-free data.
 */
function checkInputShape(tf: Engine['tf'], model: InferenceModel, ds: Dataset, step: Step): number {
  try {
    return tf.tidy(() => {
      const out = model.predict(tf.zeros([1, ...ds.inputShape]));
      const classes = out.shape[out.shape.length - 1] ?? 0;
      const fits =
        ds.numClasses === undefined ||
        classes === ds.numClasses ||
        (ds.classesInferred === true && classes > ds.numClasses);
      if (out.shape.length !== 2 || !fits) {
        const data =
          ds.numClasses === undefined
            ? `${ds.name} is label-free (any output width will do)`
            : `${ds.name} has ${ds.numClasses} classes${!ds.classesInferred ? '' : out.shape.length === 2 && classes < ds.numClasses ? ` (its largest label is ${ds.numClasses - 1}, beyond the model's ${classes} outputs: fix the labels, or use the model they were made for)` : ' (its largest label + 1; set `numClasses` if the model has more)'}`;
        // Class folders name the labels by position: the fix is the folders (or no labels), not an option.
        const fix =
          out.shape.length === 2 && ds.classNames
            ? ` Give the image folder one class folder per model output, listed in the model's order with \`classes\`, or read it label-free (\`labels: false\`) and gate on fidelity to the baseline.`
            : '';
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${step.title}: the model outputs shape [${out.shape.join(', ')}] but ${data}; mcbuild measures models whose output is [batch, classes].${fix}`,
        );
      }
      return classes;
    });
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${step.title}: the model does not accept ${ds.name} inputs of shape [batch, ${ds.inputShape.join(', ')}] (${e instanceof Error ? e.message.split('\n')[0] : String(e)}). Use data the model was built for.`,
    );
  }
}

/** An eval step's model outputs (samples × classes float32, little-endian), for fidelity and paired statistics. */
export const OUTPUTS_FILE = 'outputs.f32';

function floatsOf(bytes: Uint8Array): Float32Array {
  const copy = bytes.slice(); // aligned
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
