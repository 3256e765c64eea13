/**
 * prune's implementation: one shot (./kernels.ts plans each kernel, src/algorithms/selection.ts selects) or along
 * a schedule while training. Loaded by the definition's apply() (./index.ts) on first use, so planning never loads it.
 */
import type * as TF from '@tensorflow/tfjs';
import { pruneNM, pruneSmallest } from '../../algorithms/selection.js';
import { scheduledSparsity } from '../../algorithms/sparsity-schedule.js';
import type { Dataset } from '../../data/index.js';
import { formatDataPath } from '../../recipe/index.js';
import {
  compressedWeight,
  compressedWeightByKey,
  layerClasses,
  readGraph,
  weightKey,
  weightLayer,
  type StoredModel,
} from '../../model/index.js';
import type { Tf } from '../../engine/runtime.js';
import { freezeSkipped } from '../constraints.js';
import { optionsByLayer, type LayerOptions, type PassContext, type PassResult } from '../define.js';
import { checkFinite, checkPattern, kernelRef, nmShape, planKernels, total, type Kernel } from './kernels.js';
import { scheduleOnGraph, type PruneOptions, type PruneSchedule } from './options.js';
import { editableWeights, finish, type EditableWeights } from './weights.js';

export async function applyPrune(model: StoredModel, options: PruneOptions, ctx: PassContext): Promise<PassResult> {
  const optionsFor = optionsByLayer(ctx, options);
  if (options.schedule && readGraph(model.json)) scheduleOnGraph(ctx.place?.at('schedule'));
  if (options.schedule) return applyScheduled(model, options, options.schedule, optionsFor, ctx);
  const editable = editableWeights(model);
  const skippedLayers = new Set<string>();
  const { kernels, left } = planKernels(
    prunableKernels(model.json, editable.weights),
    options,
    optionsFor,
    skippedLayers,
  );
  kernels.forEach(checkFinite);
  for (const k of kernels) if (k.plan.kind === 'pattern') checkPattern(k, k.plan, ctx);
  const pool: Kernel[] = [];
  for (const k of kernels) {
    const p = k.plan;
    if (p.kind === 'pattern') pruneNM(k.values, nmShape(k), p.n, p.m);
    else if (p.pooled) pool.push(k);
    else pruneSmallest([k.values], Math.round(p.sparsity * k.values.length));
  }
  if (pool.length)
    pruneSmallest(
      pool.map((k) => k.values),
      Math.round(options.sparsity! * total(pool)),
    );
  const extra =
    options.pattern !== undefined
      ? { method: options.method, pattern: options.pattern }
      : { method: options.method, scope: options.scope, target: options.sparsity };
  return finish(model, editable, kernels, {
    ...extra,
    ...(left.length ? { skipped: left } : {}),
    ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
  });
}

/**
 * The float kernels of Dense, Conv2D and DepthwiseConv2D layers, by weight name and the topology's classes; in a
 * graph model, the kernels the Conv2D, depthwise and MatMul nodes (fused or not) read.
 */
function prunableKernels(json: StoredModel['json'], weights: EditableWeights['weights']): Kernel[] {
  const graph = readGraph(json);
  if (graph) {
    return weights.flatMap(({ spec, values }) => {
      const k = values && spec.shape.length >= 2 ? graph.compressed(spec.name, 'prune') : undefined;
      if (!k || !values) return [];
      const { outputAxis, inputAxis } = k.role;
      return [
        {
          name: spec.name,
          layer: k.layer,
          shape: spec.shape,
          depthwise: inputAxis === outputAxis,
          ...(inputAxis !== undefined && inputAxis > outputAxis ? { inputLast: true } : {}),
          values,
        },
      ];
    });
  }
  const classes = layerClasses(json);
  const out: Kernel[] = [];
  for (const { spec, values } of weights) {
    if (!values) continue;
    const cls = classes?.get(weightLayer(spec.name) ?? '');
    const ref = kernelRef(spec.name, spec.shape, cls === undefined ? undefined : compressedWeight(cls, 'prune'));
    if (ref) out.push({ ...ref, values });
  }
  return out;
}

async function applyScheduled(
  model: StoredModel,
  options: PruneOptions,
  schedule: PruneSchedule,
  optionsFor: LayerOptions<PruneOptions>,
  ctx: PassContext,
) {
  const { tf } = await ctx.engine();
  const { toLayersModel } = await import('../../engine/runtime.js');
  const ds = await ctx.data('train');
  const layers = await toLayersModel(tf, model);
  try {
    return await trainPruning(tf, layers, model, options, schedule, optionsFor, ds, ctx);
  } finally {
    layers.dispose();
  }
}

/** The schedule's training on `layers` (disposed by the caller), with each kernel pruned to its layer's plan. */
async function trainPruning(
  tf: Tf,
  layers: TF.LayersModel,
  model: StoredModel,
  options: PruneOptions,
  schedule: PruneSchedule,
  optionsFor: LayerOptions<PruneOptions>,
  ds: Dataset,
  ctx: PassContext,
) {
  const { fromLayersModel } = await import('../../engine/runtime.js');
  const { trainModel } = await import('../../engine/train.js');
  const { compressibleKernels } = await import('../constraints.js');
  // The kernels to prune, each with its layer's plan (before freezing: a frozen layer has no trainable weights).
  const refs = compressibleKernels(layers).flatMap((variable) => {
    const name = variable.originalName;
    const ref = kernelRef(name, variable.shape as number[], compressedWeightByKey(weightKey(name), 'prune'));
    return ref ? [{ ...ref, variable }] : [];
  });
  const skippedLayers = new Set<string>();
  const { kernels: planned, left } = planKernels(refs, options, optionsFor, skippedLayers);
  for (const k of planned) if (k.plan.kind === 'pattern') checkPattern(k, k.plan, ctx);
  const variables = planned.map((k) => k.variable);
  const masks: (TF.Tensor | undefined)[] = variables.map(() => undefined);
  const final = options.sparsity!;
  let pruningSteps = 0;
  let current = 0;
  // Prunes the current weights to the sparsity `at(target)` of each kernel's final target (weights already
  // zero rank lowest, so the masks only grow) and keeps every zero masked from then on. Patterns are
  // re-imposed as they are.
  const pruneTo = (at: (target: number) => number) => {
    pruningSteps++;
    current = at(final);
    const values = variables.map((v) => new Float32Array(v.read().dataSync() as Float32Array));
    const pool: Float32Array[] = [];
    planned.forEach(({ plan: p, shape }, i) => {
      const a = values[i]!;
      if (p.kind === 'pattern') pruneNM(a, shape, p.n, p.m);
      else if (p.pooled) pool.push(a);
      else pruneSmallest([a], Math.round(at(p.sparsity) * a.length));
    });
    if (pool.length) pruneSmallest(pool, Math.round(current * pool.reduce((s, a) => s + a.length, 0)));
    variables.forEach((variable, i) => {
      masks[i]?.dispose();
      masks[i] = tf.tidy(() => {
        const w = tf.tensor(values[i]!, variable.shape as number[], 'float32');
        variable.write(w);
        return tf.notEqual(w, 0).cast('float32');
      });
    });
  };
  const frozen = freezeSkipped(layers, optionsFor);
  let step = 0;
  try {
    if (frozen.layers.length > 0 && layers.trainableWeights.length === 0) {
      // Every layer with weights is skipped: nothing to prune or train (TF.js refuses an optimizer step without variables).
      return {
        model,
        stats: {
          method: options.method,
          frozen: frozen.layers,
          note: 'every layer with weights is skipped by an override: nothing to prune',
        },
      };
    }
    const teacher = options.teacher
      ? await (
          await import('../teacher/train.js')
        ).prepareTeacher(tf, ctx, { ...options, teacher: options.teacher }, ds, layers, where(ctx))
      : undefined;
    pruneTo(() => schedule.initialSparsity);
    const batches = Math.ceil(ds.count / options.batchSize!);
    const result = await trainModel(tf, layers, ds, {
      ...(teacher ? { loss: teacher.loss } : {}),
      epochs: Math.ceil(schedule.steps / Math.max(1, batches)),
      maxBatches: schedule.steps,
      batchSize: options.batchSize!,
      learningRate: options.learningRate!,
      optimizer: options.optimizer!,
      seed: options.seed!,
      signal: ctx.signal,
      afterBatch: () => {
        step++;
        // The optimizer step moved pruned weights too: zero them first, so they rank lowest when re-pruning.
        for (const [i, variable] of variables.entries()) {
          tf.tidy(() => {
            variable.write(tf.mul(variable.read(), masks[i]!));
          });
        }
        if (step % schedule.frequency === 0 || step === schedule.steps)
          pruneTo((target) => scheduledSparsity(target, schedule, step));
      },
      onProgress: (p) =>
        ctx.progress(
          `step ${step}/${schedule.steps} sparsity ${current.toFixed(3)} loss ${p.loss.toFixed(4)} eta ${Math.ceil(p.etaSeconds)}s`,
          p.fraction,
        ),
    });
    frozen.restore();
    const trained = await fromLayersModel(tf, layers);
    // Metadata earlier passes recorded stays with the model.
    const meta = model.json.userDefinedMetadata;
    const editable = editableWeights(
      meta === undefined ? trained : { ...trained, json: { ...trained.json, userDefinedMetadata: meta } },
    );
    const { kernels } = planKernels(prunableKernels(model.json, editable.weights), options, optionsFor, new Set());
    kernels.forEach(checkFinite);
    return finish(model, editable, kernels, {
      method: options.method,
      scope: options.scope,
      target: final,
      schedule: {
        steps: step,
        pruningSteps,
        epochLosses: result.epochLosses,
        trainSamples: ds.count,
        ...(teacher ? { teacher: teacher.stats } : {}),
      },
      ...(left.length ? { skipped: left } : {}),
      ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
      ...(frozen.layers.length ? { frozen: frozen.layers } : {}),
    });
  } finally {
    frozen.dispose();
    masks.forEach((m) => m?.dispose());
  }
}

/** "`passes[0].prune`", or "prune" when called directly. */
function where(ctx: PassContext): string {
  return ctx.place ? `\`${formatDataPath(ctx.place.path)}\`` : 'prune';
}
