/**
 * How each kind of step computes its output. Only reached on a cache miss; the TF.js engine is loaded here,
 * on first need, so a fully cached build never loads it.
 */
import { datasetId, isLabelled, labelsNeeded, loadDataset, type Dataset } from '../data/index.js';
import { cancelled, McbError } from '../errors.js';
import { filesToModel, modelToFiles, readModelDir } from '../engine/index.js';
import type { Engine, InferenceModel } from '../engine/runtime.js';
import type { CacheEntry } from '../cache/index.js';
import {
  measureFidelity,
  measureRawSize,
  pairedOutcomes,
  measureSize,
  modelCost,
  nonZeroParams,
  type Metrics,
} from '../metrics/index.js';
import { getPass } from '../passes/index.js';
import type { Step } from '../plan/index.js';
import { optionsPlace } from '../plan/plan.js';
import { layerResolver, modelLayers, ruleMatches, unmatchedRuleMessage } from '../plan/layers.js';
import { formatDataPath, formatPosition, type DataPath, type DataSpec, type Recipe } from '../recipe/index.js';

export interface StepRuntime {
  /** The recipe the step was planned from (on a worker: rebuilt from the job, src/distributed/job.ts). */
  recipe: Recipe;
  engine(): Promise<Engine>;
  signal: AbortSignal;
  progress(message: string, fraction?: number): void;
}

export async function runStep(step: Step, inputs: CacheEntry[], rt: StepRuntime): Promise<CacheEntry> {
  const spec = step.spec;
  switch (spec.kind) {
    case 'load': {
      const { model, digest } = await readModelDir(spec.path);
      if (digest !== step.keyInputs.modelDigest) {
        throw new McbError(
          'MCB_MODEL_INVALID',
          `${spec.path} changed while the build was running; run the build again.`,
        );
      }
      const files = modelToFiles(model);
      return { files, meta: measureRawSize(files, model) };
    }
    case 'train': {
      const { tf } = await rt.engine();
      const { buildArchitecture } = await import('../engine/architectures/index.js');
      const { trainModel } = await import('../engine/train.js');
      const { fromLayersModel } = await import('../engine/runtime.js');
      const t = spec.train;
      const ds = await loadChecked(t.data, step.keyInputs.data);
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
    case 'pass': {
      const pass = getPass(spec.pass)!;
      const input = filesToModel(inputs[0]!.files);
      const datasets = new Map<string, Promise<Dataset>>();
      const recipe = rt.recipe;
      const place = optionsPlace(recipe, spec.index, spec.pass);
      const entry = recipe.passes[spec.index]!;
      // The same resolution the planner showed, now against the layers of the model this pass really receives.
      const actual = modelLayers(input.json, input.weightSpecs);
      const at = (p: DataPath) => formatPosition(recipe.source.positionOf(p));
      // Planning predicted these layers; a block that matches none of the real ones would silently do nothing.
      for (const rule of spec.rules ?? []) {
        if (!actual.some((l) => ruleMatches(rule, l)))
          throw new McbError(
            'MCB_RECIPE_INVALID',
            unmatchedRuleMessage(rule, spec.pass, actual, at(['overrides', rule.block]), 'running'),
          );
      }
      const layers = layerResolver(
        pass,
        { path: place.path, raw: entry.rawOptions },
        spec.options,
        spec.rules ?? [],
        actual,
        at,
      );
      const out = await pass.apply(input, spec.options, {
        engine: rt.engine,
        signal: rt.signal,
        progress: rt.progress,
        place,
        layerOptions: layers.optionsFor,
        data: (kind) => {
          // The planner refuses a pass whose data the recipe does not set, so the slice is there.
          const ds =
            datasets.get(kind) ??
            loadChecked(recipe.data[kind]!, (step.keyInputs.data as Record<string, unknown> | undefined)?.[kind]);
          datasets.set(kind, ds);
          return ds;
        },
      });
      if (out.model.shardBytes === undefined && input.shardBytes !== undefined) out.model.shardBytes = input.shardBytes; // passes that rebuild the model keep an earlier `shard` size
      const files = modelToFiles(out.model);
      const overridden = layers.overridden().map(({ layer, skip, raw, setBy }) => ({
        layer,
        ...(skip ? { skip } : { options: raw }),
        setBy: Object.fromEntries(Object.entries(setBy).map(([k, p]) => [k, formatDataPath(p)])),
      }));
      return {
        files,
        meta: { ...measureRawSize(files, out.model), stats: out.stats, ...(spec.rules ? { overridden } : {}) },
      };
    }
    case 'eval': {
      const { tf, backend } = await rt.engine();
      const { loadForInference } = await import('../engine/runtime.js');
      const { measureOutputs, measurePeakMemory } = await import('../metrics/accuracy.js');
      const { measureLatency } = await import('../metrics/latency.js');
      const stored = filesToModel(inputs[0]!.files);
      const ds = await loadChecked(spec.data, step.keyInputs.data);
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
          ...rt.recipe.runtime.latency,
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
    case 'latency': {
      const { tf, backend } = await rt.engine();
      const { loadForInference } = await import('../engine/runtime.js');
      const { compareLatency } = await import('../metrics/latency-compare.js');
      const ds = await loadChecked(spec.data, step.keyInputs.data);
      const baseline = await loadForInference(tf, filesToModel(inputs[0]!.files));
      try {
        const result = await loadForInference(tf, filesToModel(inputs[1]!.files));
        try {
          rt.progress('timing baseline and result in turn');
          const comparison = await compareLatency(tf, baseline, result, ds, backend, {
            signal: rt.signal,
            ...rt.recipe.runtime.latency,
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

/**
 * Loads a data slice and, for file datasets, checks it against the digest its step key was computed with:
 * a file edited between planning and running would otherwise be cached under the old content's key.
 */
async function loadChecked(spec: DataSpec, keyed: unknown): Promise<Dataset> {
  const expected = (keyed as { digest?: unknown } | undefined)?.digest;
  // The evals, the latency step and training passes of one build read the same slice: decode it once. A slice
  // is reused only under the digest it was checked against, so a later build on changed files decodes anew.
  const memo = typeof expected === 'string' ? `${datasetId(spec)}\n${expected}` : undefined;
  const had = memo === undefined ? undefined : decoded.get(memo);
  if (had) return had;
  const ds = await loadDataset(spec);
  if (ds.digest !== undefined && expected !== undefined && ds.digest !== expected) {
    throw new McbError(
      'MCB_DATASET',
      `the data ${ds.name} changed while the build was running (its files differ from when the build was planned); run the build again.`,
    );
  }
  if (memo !== undefined) {
    decoded.set(memo, ds);
    // A build reads at most three slices (eval, train, calibration); older ones belong to earlier builds.
    while (decoded.size > 3) decoded.delete(decoded.keys().next().value!);
  }
  return ds;
}

/** File datasets decoded by this process, by slice and digest (mnist keeps its own copy in src/data/mnist.ts). */
const decoded = new Map<string, Dataset>();

/** An eval step's model outputs (samples × classes float32, little-endian), for fidelity and paired statistics. */
export const OUTPUTS_FILE = 'outputs.f32';

function floatsOf(bytes: Uint8Array): Float32Array {
  const copy = bytes.slice(); // aligned
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
