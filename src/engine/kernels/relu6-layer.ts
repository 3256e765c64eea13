/**
 * TF.js layers' ReLU with a maxValue (MobileNet's ReLU6) on the wasm backend as one forward kernel and one gradient
 * kernel, instead of Relu then ClipByValue forward and their two gradients backward: four full-size ops with
 * TF.js's per-op bookkeeping become two.
 *
 * The hook is the ReLU layer class's `call` (as for BatchNormalization, see batchnorm-layer.ts); layers without
 * maxValue or with maxValue <= 0 (TF.js's clipByValue turns a zero range into a constant), non-float32 inputs and
 * other backends keep TF.js's call. The forward runs the wasm backend's ClipByValue kernel alone (SIMD), which
 * gives its relu-then-clipByValue values bit for bit, NaN and −0 included (both become +0); the gradient is TF.js's
 * two gradients chained (activation-grads.ts), bit for bit: dy for 0 < x <= max, dy·0 for x <= 0, +0 above max,
 * NaN for NaN.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, KernelConfig, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs';
import type { HeapBackend, KernelArgs } from './override.js';
import { requiredTeam } from './team/team.js';

export const RELU6 = 'McbReluMax';
export const RELU6_GRAD = 'McbReluMaxGrad';

function run(args: KernelArgs, kernel: string, names: string[]): [HeapBackend, TensorInfo[], TensorInfo, number] {
  const tensors = names.map((n) => {
    const t = args.inputs[n];
    if (t === undefined) throw new Error(`${kernel}: input '${n}' is required.`);
    return t;
  });
  const { maxValue } = args.attrs as unknown as { maxValue: number };
  const backend = args.backend as HeapBackend;
  return [backend, tensors, backend.makeOutput(tensors[0]!.shape, 'float32'), maxValue];
}

const view = (backend: HeapBackend, t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;

export const reluMaxConfig: KernelConfig = {
  kernelName: RELU6,
  backendName: 'wasm',
  kernelFunc: (args: KernelArgs) => {
    const { x } = args.inputs;
    const { maxValue } = args.attrs as unknown as { maxValue: number };
    // ~15x faster than a JS loop over the heap.
    const clip = tf.getKernel('ClipByValue', 'wasm');
    return clip.kernelFunc({
      inputs: { x: x! },
      backend: args.backend as never,
      attrs: { clipValueMin: 0, clipValueMax: maxValue },
    });
  },
};

export const reluMaxGradKernelConfig: KernelConfig = {
  kernelName: RELU6_GRAD,
  backendName: 'wasm',
  kernelFunc: (args: KernelArgs) => {
    const [backend, [dy, x], out, max] = run(args, RELU6_GRAD, ['dy', 'x']);
    const team = requiredTeam(backend);
    // The SIMD loop of ./team/simd.wat (reluMaxGrad), on this thread: ~1 ms tensors gain nothing from splitting.
    const [d, v, o] = [dy!, x!, out].map((t) => view(backend, t).byteOffset) as [number, number, number];
    team.run('reluMaxGrad', [[d, v, o, tf.util.sizeFromShape(out.shape), Math.fround(max)]]);
    return out;
  },
};

export const reluMaxGradConfig: GradConfig = {
  kernelName: RELU6,
  inputsToSave: ['x'],
  gradFunc: (dy: Tensor | Tensor[], [x]: Tensor[], attrs: NamedAttrMap) => ({
    x: () => tf.engine().runKernel<Tensor>(RELU6_GRAD, { dy: dy as Tensor, x: x! }, attrs),
  }),
};

type Call = (this: { maxValue?: number }, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor;

const PATCHED = Symbol.for('mcbuild.fusedReluMax');

/** Routes ReLU layers with maxValue on wasm to the kernels above. Idempotent; the kernels must be registered. */
export function installFusedReluMax(): void {
  const cls = tf.serialization.SerializationMap.getMap().classNameMap.ReLU?.[0] as
    { prototype: { call: Call; [PATCHED]?: true } } | undefined;
  if (cls === undefined) throw new Error('TF.js layers has no ReLU class registered.');
  const proto = cls.prototype;
  if (proto[PATCHED]) return;
  const original = proto.call;
  proto.call = function (this: { maxValue?: number }, inputs, kwargs) {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    const max = this.maxValue;
    if (max == null || !(max > 0) || x?.dtype !== 'float32' || tf.getBackend() !== 'wasm') {
      return original.call(this, inputs, kwargs);
    }
    return tf.engine().runKernel<Tensor>(RELU6, { x }, { maxValue: max });
  };
  proto[PATCHED] = true;
}
