/**
 * Batch normalization in training mode as two wasm kernels: the forward pass (normalised output plus the batch mean
 * and variance) and its analytic gradient, over channels-last data seen as [rows, channels].
 *
 * Why: TF.js layers computes training-mode batch norm as tf.moments (Mean, Sub, Square, Mean) plus FusedBatchNorm,
 * and autodiff then runs about 15 more ops per layer (Tile, Mul, Sum, Rsqrt, ...), each a full pass over the
 * activation with its own bookkeeping: 13 layers of mobilenet-v1 alpha 0.25 cost ~60 ms of a 310 ms step that
 * way. Here the forward is two passes (statistics, output) and the backward two (channel sums, dx), each a wasm
 * SIMD loop of ./team/simd.wat (two float64 lanes; 4-5x faster than the same loops in JavaScript, which they
 * replaced with the same bits), the per-channel work in between in JavaScript.
 *
 * Numerics: sums in float64, over blocks of 64 rows; the variance is the biased one tf.moments gives, from sums of values
 * shifted by each channel's first value, so a large mean does not cancel digits. Forward and backward both use the
 * float32 mean and variance the forward returns. The gradient is the full one through the batch statistics:
 *   dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)) + dmean/N + dvar·2(x − μ)/N,   dγ = Σ dy·x̂,   dβ = Σ dy,
 * with σ = sqrt(var + ε) and x̂ = (x − μ)/σ (dmean, dvar: gradients reaching the mean and variance outputs,
 * zero when only the moving averages read them).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, KernelConfig, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs';
import type { HeapBackend, KernelArgs } from './override.js';
import { heapBlock, type HeapOwner } from './team/heap-block.js';
import { requiredTeam } from './team/team.js';

export const BATCH_NORM_TRAIN = 'McbBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'McbBatchNormTrainGrad';

type Backend = HeapBackend & HeapOwner;

/** Byte address of a tensor's data in the heap. */
const addressOf = (backend: Backend, t: TensorInfo) => backend.typedArrayFromHeap(t).byteOffset;

/**
 * The batch's per-channel mean and biased variance of x seen as [rows, cols], into the float32 tensors mean and
 * variance, from sums of values shifted by each channel's first value (see the top). Returns nothing: the
 * results are in the heap.
 */
function channelMoments(
  backend: Backend,
  x: TensorInfo,
  rows: number,
  cols: number,
  mean: TensorInfo,
  variance: TensorInfo,
): void {
  // Arrays: the shift, Σ (x − shift), Σ (x − shift) again (columnSums' second sum), Σ (x − shift)².
  const block = heapBlock(backend, 4, cols);
  try {
    const xv = backend.typedArrayFromHeap(x);
    const shift = block.f64(0);
    for (let c = 0; c < cols; c++) shift[c] = xv[c]!;
    const at = addressOf(backend, x);
    const [a0, a1, a2, a3] = [0, 1, 2, 3].map((i) => block.address(i)) as [number, number, number, number];
    requiredTeam(backend).run('columnSums', [[at, at, a0, a0, a1, a2, a3, rows, cols]]);
    const [sum, sumSquares] = [block.f64(1), block.f64(3)];
    const [m32, v32] = [mean, variance].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [
      Float32Array,
      Float32Array,
    ];
    for (let c = 0; c < cols; c++) {
      const m = sum[c]! / rows;
      m32[c] = shift[c]! + m;
      v32[c] = Math.max(0, sumSquares[c]! / rows - m * m);
    }
  } finally {
    block.free();
  }
}

/** y = (x − mean)·γ/sqrt(var + ε) + β over [rows, cols], as x·scale + shift with the coefficients in float64. */
function normalizeRows(
  backend: Backend,
  x: TensorInfo,
  rows: number,
  cols: number,
  mean: TensorInfo,
  variance: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
  epsilon: number,
  y: TensorInfo,
): void {
  const block = heapBlock(backend, 2, cols);
  try {
    const [m, v, g, b] = [mean, variance, gamma, beta].map((t) => backend.typedArrayFromHeap(t));
    const [scale, shift] = [block.f64(0), block.f64(1)];
    for (let c = 0; c < cols; c++) {
      scale[c] = g![c]! / Math.sqrt(v![c]! + epsilon);
      shift[c] = b![c]! - m![c]! * scale[c]!;
    }
    const args = [addressOf(backend, x), block.address(0), block.address(1), addressOf(backend, y), rows, cols];
    requiredTeam(backend).run('scaleShiftRows', [args]);
  } finally {
    block.free();
  }
}

/** The gradients of normalizeRows with mean and variance from channelMoments (see the top). */
function batchNormBackward(
  backend: Backend,
  inputs: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo },
  dmean: TensorInfo | undefined,
  dvariance: TensorInfo | undefined,
  rows: number,
  cols: number,
  epsilon: number,
  out: { dx: TensorInfo; dgamma: TensorInfo; dbeta: TensorInfo },
): void {
  // Arrays: zero shifts for dy, the float32 mean as float64, Σ dy, Σ (x − μ), Σ dy·(x − μ), then a, b, k, centre.
  const block = heapBlock(backend, 9, cols);
  try {
    const mu = block.f64(1);
    const mean = backend.typedArrayFromHeap(inputs.mean);
    for (let c = 0; c < cols; c++) mu[c] = mean[c]!;
    // Σ dy, Σ (x − μ) and Σ dy·(x − μ) per channel. The float32 μ misses the batch mean by up to half an ulp, and
    // N times that, multiplied out, was the largest error of dx: the exact mean is μ + Σ (x − μ)/N.
    const [dyAt, xAt] = [addressOf(backend, inputs.dy), addressOf(backend, inputs.x)];
    const a = (i: number) => block.address(i);
    const team = requiredTeam(backend);
    team.run('columnSums', [[dyAt, xAt, a(0), a(1), a(2), a(3), a(4), rows, cols]]);
    // dx = a·dy + b·(x − exact mean) + k per channel.
    const [sumDys, sumXs, sumDyXs, ca, cb, ck, centre] = [2, 3, 4, 5, 6, 7, 8].map((i) => block.f64(i));
    const view = (t: TensorInfo | undefined) => (t === undefined ? undefined : backend.typedArrayFromHeap(t));
    const [variance, gamma, dm, dv] = [inputs.variance, inputs.gamma, dmean, dvariance].map(view);
    const [dgamma, dbeta] = [out.dgamma, out.dbeta].map((t) => backend.typedArrayFromHeap(t) as Float32Array);
    for (let c = 0; c < cols; c++) {
      const i = 1 / Math.sqrt(variance![c]! + epsilon);
      const gi = gamma![c]! * i;
      const offset = sumXs![c]! / rows;
      const sumDy = sumDys![c]!;
      const sumDyX = sumDyXs![c]! - offset * sumDy;
      centre![c] = mean[c]! + offset;
      ca![c] = gi;
      cb![c] = (-gi * i * i * sumDyX) / rows + (dv ? (2 * dv[c]!) / rows : 0);
      ck![c] = (-gi * sumDy) / rows + (dm ? dm[c]! / rows : 0);
      dgamma![c] = sumDyX * i;
      dbeta![c] = sumDy;
    }
    team.run('batchNormInputGrad', [[dyAt, xAt, a(5), a(6), a(7), a(8), addressOf(backend, out.dx), rows, cols]]);
  } finally {
    block.free();
  }
}

function required(args: KernelArgs, name: string, kernel: string): TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`${kernel}: input '${name}' is required.`);
  return t;
}

/** [rows, channels] of a channels-last tensor. */
function layout(x: TensorInfo): [number, number] {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return [tf.util.sizeFromShape(x.shape) / cols, cols];
}

function forward(args: KernelArgs): TensorInfo[] {
  const x = required(args, 'x', BATCH_NORM_TRAIN);
  const gamma = required(args, 'gamma', BATCH_NORM_TRAIN);
  const beta = required(args, 'beta', BATCH_NORM_TRAIN);
  const { epsilon } = args.attrs as unknown as { epsilon: number };
  const [rows, cols] = layout(x);
  const backend = args.backend as Backend;
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([cols], 'float32');
  const variance = backend.makeOutput([cols], 'float32');
  channelMoments(backend, x, rows, cols, mean, variance);
  normalizeRows(backend, x, rows, cols, mean, variance, gamma, beta, epsilon, y);
  return [y, mean, variance];
}

function backward(args: KernelArgs): TensorInfo[] {
  const name = BATCH_NORM_TRAIN_GRAD;
  const [dy, x, gamma, mean, variance] = ['dy', 'x', 'gamma', 'mean', 'variance'].map((n) =>
    required(args, n, name),
  ) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo, TensorInfo];
  const { dmean, dvariance } = args.inputs;
  const { epsilon } = args.attrs as unknown as { epsilon: number };
  const [rows, cols] = layout(x);
  const backend = args.backend as Backend;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dgamma = backend.makeOutput([cols], 'float32');
  const dbeta = backend.makeOutput([cols], 'float32');
  const inputs = { dy, x, gamma, mean, variance };
  batchNormBackward(backend, inputs, dmean, dvariance, rows, cols, epsilon, { dx, dgamma, dbeta });
  return [dx, dgamma, dbeta];
}

export const batchNormTrainConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAIN,
  backendName: 'wasm',
  kernelFunc: forward,
};

export const batchNormTrainGradKernelConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: backward,
};

/** All-zero gradients reaching the statistics (the usual case: only the moving averages read them) are skipped. */
function unlessZero(t: Tensor): Tensor | undefined {
  const v = t.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return t;
  return undefined;
}

export const batchNormTrainGradConfig: GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [dy, dmean, dvariance] = dys as Tensor[];
    const [x, gamma, mean, variance] = saved;
    const inputs: Record<string, Tensor> = { dy: dy!, x: x!, gamma: gamma!, mean: mean!, variance: variance! };
    const dm = dmean && unlessZero(dmean);
    const dv = dvariance && unlessZero(dvariance);
    if (dm) inputs.dmean = dm;
    if (dv) inputs.dvariance = dv;
    const [dx, dgamma, dbeta] = tf.engine().runKernel<Tensor[]>(BATCH_NORM_TRAIN_GRAD, inputs, attrs);
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};
