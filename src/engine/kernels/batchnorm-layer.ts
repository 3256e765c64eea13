/**
 * TF.js layers' BatchNormalization, in training mode on the wasm backend, through the fused kernels of
 * batchnorm-train.ts: one forward op and one analytic backward instead of ~20 small ops per layer and step.
 *
 * The hook is the layer class's `call`, patched on its prototype (the class TF.js registered for deserialization,
 * so models built in code and loaded from model.json alike): the layer computes its training-mode output in `call`
 * with no other seam, tf.moments and tf.batchNorm are used elsewhere with other semantics, and a gradient override
 * of FusedBatchNorm would still leave the moments' ops. Everything else goes to TF.js's own `call` unchanged:
 * inference mode, other backends, axes other than the last, layers without γ or β, non-float32 inputs.
 *
 * The moving statistics are updated as TF.js does, moving − (moving − batch)·(1 − momentum) in float32 with the
 * layer's momentum at call time (recalibrateBatchNorm relies on that), by one small kernel that gives the same bits
 * as TF.js's three ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, Tensor, TensorInfo } from '@tensorflow/tfjs';
import { BATCH_NORM_TRAIN } from './batchnorm-train.js';
import type { HeapBackend, KernelArgs } from './override.js';

export const MOVING_AVERAGES = 'McbMovingAverages';

/** moving − (moving − value)·decay, rounded to float32 after each operation as TF.js's float32 ops do. */
export function movingAverage(moving: Float32Array, value: Float32Array, momentum: number, out: Float32Array): void {
  const decay = Math.fround(1 - momentum);
  for (let i = 0; i < out.length; i++) {
    out[i] = moving[i]! - Math.fround(Math.fround(moving[i]! - value[i]!) * decay);
  }
}

function movingAverages(args: KernelArgs): TensorInfo[] {
  const names = ['movingMean', 'movingVariance', 'mean', 'variance'];
  const [movingMean, movingVariance, mean, variance] = names.map((n) => {
    const t = args.inputs[n];
    if (t === undefined) throw new Error(`${MOVING_AVERAGES}: input '${n}' is required.`);
    return t;
  }) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
  const { momentum } = args.attrs as unknown as { momentum: number };
  const backend = args.backend as HeapBackend;
  const outputs = [
    backend.makeOutput(movingMean.shape, 'float32'),
    backend.makeOutput(movingVariance.shape, 'float32'),
  ];
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  movingAverage(view(movingMean), view(mean), momentum, view(outputs[0]!));
  movingAverage(view(movingVariance), view(variance), momentum, view(outputs[1]!));
  return outputs;
}

export const movingAveragesConfig: KernelConfig = {
  kernelName: MOVING_AVERAGES,
  backendName: 'wasm',
  kernelFunc: movingAverages,
};

/** The fields of tfjs-layers' BatchNormalization that its training-mode call reads (not in the public typings). */
interface BatchNormLayer {
  /** A number, or a list of one from Keras's converter (`"axis": [3]`), which TF.js's call coerces. */
  axis: number | number[];
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: LayerVariable;
  beta?: LayerVariable;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

interface LayerVariable {
  read(): Tensor;
  write(t: Tensor): void;
}

type Call = (this: BatchNormLayer, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor | Tensor[];

const PATCHED = Symbol.for('mcbuild.fusedBatchNorm');

/** Whether the layer normalises the last axis of a rank-`rank` input (channels last). */
function onLastAxis(layer: BatchNormLayer, rank: number): boolean {
  const axis = Array.isArray(layer.axis) ? (layer.axis.length === 1 ? layer.axis[0]! : Number.NaN) : layer.axis;
  return (axis + rank) % rank === rank - 1;
}

/** The input when the fused path applies, else undefined. */
function fusedInput(layer: BatchNormLayer, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) {
  // As TF.js's call: a missing `training` is inference.
  if (!kwargs?.training || tf.getBackend() !== 'wasm') return undefined;
  const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (input === undefined || input.dtype !== 'float32' || input.size === 0) return undefined;
  // Ranks 2-4 are those TF.js's batchNormalization supports; others keep its error.
  if (input.rank < 2 || input.rank > 4 || !onLastAxis(layer, input.rank)) return undefined;
  if (!layer.center || !layer.scale || !layer.gamma || !layer.beta) return undefined;
  return input;
}

function fusedTrainingCall(layer: BatchNormLayer, x: Tensor): Tensor {
  return tf.tidy(() => {
    const [y, mean, variance] = tf
      .engine()
      .runKernel<Tensor[]>(
        BATCH_NORM_TRAIN,
        { x, gamma: layer.gamma!.read(), beta: layer.beta!.read() },
        { epsilon: layer.epsilon },
      );
    const [movingMean, movingVariance] = tf.engine().runKernel<Tensor[]>(
      MOVING_AVERAGES,
      {
        movingMean: layer.movingMean.read(),
        movingVariance: layer.movingVariance.read(),
        mean: mean!,
        variance: variance!,
      },
      { momentum: layer.momentum },
    );
    layer.movingMean.write(movingMean!);
    layer.movingVariance.write(movingVariance!);
    return y!;
  });
}

/**
 * Routes BatchNormalization's training-mode call on wasm to the fused kernels. Idempotent; the kernels must be
 * registered (registerWasmTrainingKernels does both).
 */
export function installFusedBatchNorm(): void {
  const cls = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization?.[0] as
    { prototype: { call: Call; [PATCHED]?: true } } | undefined;
  if (cls === undefined) throw new Error('TF.js layers has no BatchNormalization class registered.');
  const proto = cls.prototype;
  if (proto[PATCHED]) return;
  const original = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    const x = fusedInput(this, inputs, kwargs);
    return x === undefined ? original.call(this, inputs, kwargs) : fusedTrainingCall(this, x);
  };
  proto[PATCHED] = true;
}
