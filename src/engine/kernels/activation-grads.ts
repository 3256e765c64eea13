/**
 * The gradients of Relu and ClipByValue on the wasm backend as one pass each.
 *
 * TF.js layers' ReLU with maxValue (MobileNet's ReLU6) is relu then clipByValue(0, max). TF.js differentiates them
 * as mul(dy, cast(step(x))) and where(logicalAnd(x >= lo, x <= hi), dy, zerosLike(dy)): seven full-size ops per
 * activation (~30 ms of a 310 ms mobilenet-v1 alpha 0.25 step). These kernels give the same values bit for bit:
 *   Relu:        dx = dy · step(x), step(x) = 1 for x > 0, NaN for NaN, else 0 (so −0 for dy < 0, NaN for dy = ±∞)
 *   ClipByValue: dx = dy where fround(lo) <= x <= fround(hi), else 0 (NaN x gives 0), the bounds as float32 scalars
 *                as TF.js makes them.
 * Other dtypes and shapes (dy and x always match in TF.js's use) go to TF.js's gradients.
 */
import * as tf from '@tensorflow/tfjs';
import type { ClipByValueAttrs, KernelConfig, Tensor, TensorInfo } from '@tensorflow/tfjs';
import { overrideGradientOnWasm } from './gradient-override.js';
import type { HeapBackend, KernelArgs } from './override.js';

export const RELU_GRAD = 'McbReluGrad';
export const CLIP_GRAD = 'McbClipByValueGrad';

/**
 * dx = dy · step(x) as TF.js computes it. Branch-free but for NaN (rare, so predicted): with random signs a
 * conditional per element mispredicts half the time and was 5x slower. Exported for the tests.
 */
export function reluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < dx.length; i++) {
    const v = x[i]!;
    let step = +(v > 0);
    if (v !== v) step = Number.NaN;
    dx[i] = dy[i]! * step;
  }
}

/**
 * dx = dy where lo <= x <= hi (bounds rounded to float32), else +0: a select on the bits (dy's, or all zero), which
 * keeps dy exactly and avoids a branch per element. Exported for the tests.
 */
export function clipGrad(dy: Float32Array, x: Float32Array, lo: number, hi: number, dx: Float32Array): void {
  const l = Math.fround(lo);
  const h = Math.fround(hi);
  const dyBits = bits(dy);
  const dxBits = bits(dx);
  for (let i = 0; i < dx.length; i++) {
    const v = x[i]!;
    dxBits[i] = dyBits[i]! & -(+(v >= l) & +(v <= h));
  }
}

const bits = (a: Float32Array): Int32Array => new Int32Array(a.buffer, a.byteOffset, a.length);

function inputs(args: KernelArgs, kernel: string): [TensorInfo, TensorInfo] {
  const { dy, x } = args.inputs;
  if (dy === undefined || x === undefined) throw new Error(`${kernel}: inputs dy and x are required.`);
  return [dy, x];
}

function run(args: KernelArgs, kernel: string, fill: (dy: Float32Array, x: Float32Array, dx: Float32Array) => void) {
  const [dy, x] = inputs(args, kernel);
  const backend = args.backend as HeapBackend;
  const out = backend.makeOutput(x.shape, 'float32');
  // Views are taken after makeOutput: an allocation may grow the wasm heap and detach earlier views.
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  fill(view(dy), view(x), view(out));
  return out;
}

export const reluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: 'wasm',
  kernelFunc: (args: KernelArgs) => run(args, RELU_GRAD, reluGrad),
};

export const clipGradConfig: KernelConfig = {
  kernelName: CLIP_GRAD,
  backendName: 'wasm',
  kernelFunc: (args: KernelArgs) => {
    const { clipValueMin, clipValueMax } = args.attrs as unknown as ClipByValueAttrs;
    return run(args, CLIP_GRAD, (dy, x, dx) => clipGrad(dy, x, clipValueMin, clipValueMax, dx));
  },
};

const covered = (dy: Tensor, x: Tensor | undefined): x is Tensor =>
  x !== undefined && dy.dtype === 'float32' && x.dtype === 'float32' && tf.util.arraysEqual(dy.shape, x.shape);

/** Makes Relu's and ClipByValue's gradients on wasm use the kernels above. Idempotent. */
export function installActivationGradients(): void {
  overrideGradientOnWasm('Relu', (dy, [x]) =>
    covered(dy, x) ? { x: () => tf.engine().runKernel<Tensor>(RELU_GRAD, { dy, x }) } : undefined,
  );
  overrideGradientOnWasm('ClipByValue', (dy, [x], attrs) =>
    covered(dy, x) ? { x: () => tf.engine().runKernel<Tensor>(CLIP_GRAD, { dy, x }, attrs) } : undefined,
  );
}
