/** The measuring steps: evaluate a model on the eval data, and time the baseline and the result side by side. */
import type { CacheEntry } from '../../cache/index.js';
import type { Dataset } from '../../data/index.js';
import { filesToModel } from '../../model/index.js';
import type { Engine, InferenceModel } from '../../engine/runtime.js';
import { cancelled, McbError } from '../../errors.js';
import {
  measureOutputFidelity,
  measureSize,
  modelCost,
  nonZeroParams,
  pairedOutcomes,
  type MeasuredOutput,
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
    const wanted = spec.outputs && outputsByName(model.outputNames, spec.outputs, spec.outputPositions);
    const width = await checkModelFits(tf, model, ds, step, wanted);
    const measured = await measureOutputs(tf, model, ds, {
      classes: width,
      signal: rt.signal,
      ...(wanted ? { outputs: wanted } : {}),
      onProgress: (done, total) => rt.progress(`${done}/${total} samples`, done / total),
    });
    const { outputs, classes, count, accuracy: acc, all } = measured;
    // The result is compared with the baseline's outputs, kept in the baseline's eval entry.
    const baseline = spec.role === 'result' && inputs[1] ? keptOutputs(inputs[1]) : undefined;
    if (baseline) sameOutputs(step, baseline, all);
    // With labels, the first output is a classifier's even when it gives logits.
    const fidelity = baseline
      ? measureOutputFidelity(baseline, all, ds.y ? { classifier: all[0]!.name } : {})
      : undefined;
    // Label-free data has no right answers: accuracy and paired outcomes are left out, fidelity remains.
    const paired = baseline && ds.y ? pairedOutcomes(baseline[0]!.values, outputs, ds.y, classes) : undefined;
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
      outputs: all.map((o) => ({ name: o.name, width: o.width })),
      ...measureSize(stored),
      nonZeroParams: nonZeroParams(stored),
      peakBytes,
      ...(fidelity ? { fidelity } : {}),
      ...(paired ? { paired } : {}),
      ...('unavailable' in cost ? {} : { macs: cost.macs, flops: cost.flops }),
      latency,
    };
    return {
      files: new Map(
        all.map((o, i) => [outputsFile(i), new Uint8Array(o.values.buffer, o.values.byteOffset, o.values.byteLength)]),
      ),
      meta: { ...metrics },
    };
  } finally {
    model.dispose();
  }
}

/**
 * The names in this model of the outputs `model.outputs` chose: the same names, or, where a pass renamed an
 * output, the output at the position it had in the source model.
 */
function outputsByName(names: readonly string[], wanted: readonly string[], positions?: readonly number[]): string[] {
  return wanted.map((w, j) => (names.includes(w) ? w : (names[positions?.[j] ?? -1] ?? w)));
}

/** The outputs a baseline eval entry kept, with their names and widths. */
function keptOutputs(entry: CacheEntry): MeasuredOutput[] {
  const kept = (entry.meta as Partial<Metrics>).outputs ?? [];
  return kept.map((o, i) => ({ ...o, values: floatsOf(entry.files.get(outputsFile(i)) ?? new Uint8Array(0)) }));
}

function sameOutputs(step: Step, baseline: readonly MeasuredOutput[], result: readonly MeasuredOutput[]): void {
  const show = (o: readonly MeasuredOutput[]) => o.map((x) => `${x.name} (${x.width} per sample)`).join(', ');
  // By position and width: a pass may rename the layer an output comes from (lowrank's `<name>_lr2`).
  const same = baseline.length === result.length && baseline.every((b, i) => b.width === result[i]!.width);
  if (!same)
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${step.title}: the result's outputs are ${show(result)} but the baseline's were ${show(baseline)}; fidelity compares the outputs in order, so the passes must keep the model's outputs, their order and their widths.`,
    );
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
 * A model that does not fit the data fails here with a readable message instead of deep inside TF.js (the
 * planner checks what the model declares; this checks what it does). Returns the first kept output's width:
 * the class count for labelled data (more outputs than the largest label when the class count was only
 * inferred from the labels), any width for label-free data.
 */
async function checkModelFits(
  tf: Engine['tf'],
  model: InferenceModel,
  ds: Dataset,
  step: Step,
  keep: readonly string[] | undefined,
): Promise<number> {
  let shape: number[];
  const x = tf.zeros([1, ...ds.inputShape], model.inputDtype);
  try {
    const outs = await model.run(x);
    const first = keep ? model.outputNames.indexOf(keep[0]!) : 0;
    shape = outs[Math.max(0, first)]?.shape ?? [];
    tf.dispose(outs);
  } catch (e) {
    if (e instanceof McbError) throw e;
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${step.title}: the model does not accept ${ds.name} inputs of shape [batch, ${ds.inputShape.join(', ')}] (${e instanceof Error ? e.message.split('\n')[0] : String(e)}). Use data the model was built for.`,
    );
  } finally {
    x.dispose();
  }
  if (ds.numClasses === undefined) return shape.slice(1).reduce((a, b) => a * b, 1);
  const classes = shape[shape.length - 1] ?? 0;
  const fits = classes === ds.numClasses || (ds.classesInferred === true && classes > ds.numClasses);
  if (shape.length !== 2 || !fits) {
    const data = `${ds.name} has ${ds.numClasses} classes${!ds.classesInferred ? '' : shape.length === 2 && classes < ds.numClasses ? ` (its largest label is ${ds.numClasses - 1}, beyond the model's ${classes} outputs: fix the labels, or use the model they were made for)` : ' (its largest label + 1; set `numClasses` if the model has more)'}`;
    // Class folders name the labels by position: the fix is the folders (or no labels), not an option.
    const fix =
      shape.length === 2 && ds.classNames
        ? ` Give the image folder one class folder per model output, listed in the model's order with \`classes\`, or read it label-free (\`labels: false\`) and gate on fidelity to the baseline.`
        : ' Labels are read against the first output measured (`model.outputs` chooses it); without labels every output is compared with the baseline.';
    throw new McbError(
      'MCB_MODEL_INVALID',
      `${step.title}: the model's output ${model.outputNames[0] ?? ''} has shape [${shape.join(', ')}] but ${data}; accuracy needs an output of shape [batch, classes].${fix}`,
    );
  }
  return classes;
}

/**
 * An eval step's model outputs (samples × width float32, little-endian), for fidelity and paired statistics:
 * the first kept output in OUTPUTS_FILE, the others in outputs-<i>.f32 in the order of the metrics' `outputs`.
 */
export const OUTPUTS_FILE = 'outputs.f32';

function outputsFile(i: number): string {
  return i === 0 ? OUTPUTS_FILE : `outputs-${i}.f32`;
}

function floatsOf(bytes: Uint8Array): Float32Array {
  const copy = bytes.slice(); // aligned
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
