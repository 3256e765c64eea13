/**
 * Batch normalization in training mode as two wasm kernels: the forward pass (normalised output plus the batch mean
 * and variance) and its analytic gradient, over channels-last data seen as [rows, channels].
 *
 * Why: TF.js layers computes training-mode batch norm as tf.moments (Mean, Sub, Square, Mean) plus FusedBatchNorm,
 * and autodiff then runs about 15 more ops per layer (Tile, Mul, Sum, Rsqrt, ...), each a full pass over the
 * activation with its own bookkeeping: 13 layers of mobilenet-v1 alpha 0.25 cost ~60 ms of a 310 ms step that
 * way. Here the forward is two passes (statistics, output) and the backward two (channel sums, dx).
 *
 * Numerics: sums in float64 (JS numbers); the variance is the biased one tf.moments gives, from sums of values
 * shifted by each channel's first value, so a large mean does not cancel digits. Forward and backward both use the
 * float32 mean and variance the forward returns. The gradient is the full one through the batch statistics:
 *   dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)) + dmean/N + dvar·2(x − μ)/N,   dγ = Σ dy·x̂,   dβ = Σ dy,
 * with σ = sqrt(var + ε) and x̂ = (x − μ)/σ (dmean, dvar: gradients reaching the mean and variance outputs,
 * zero when only the moving averages read them).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, KernelConfig, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs';
import type { HeapBackend, KernelArgs } from './override.js';

export const BATCH_NORM_TRAIN = 'McbBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'McbBatchNormTrainGrad';

/** Rows per block of the column sums (see columnSums). */
const ROW_BLOCK = 64;

/**
 * Per-column Σ a, Σ b and Σ a·b over [rows, cols], with a = src − shiftA[c] and b = other − shiftB[c], added into
 * sums.a, sums.b and sums.ab. Blocks of 64 rows by 4 columns keep the accumulators in registers, where
 * accumulating into per-column arrays costs a load and a store per element.
 */
function columnSums(
  src: ArrayLike<number>,
  other: ArrayLike<number>,
  rows: number,
  cols: number,
  shiftA: ArrayLike<number>,
  shiftB: ArrayLike<number>,
  sums: { a: Float64Array; b: Float64Array; ab: Float64Array },
): void {
  const { a: sumA, b: sumB, ab: sumAB } = sums;
  const wide = cols - (cols % 4);
  for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
    const end = Math.min(rows, r0 + ROW_BLOCK) * cols;
    for (let c = 0; c < wide; c += 4) {
      const a0 = shiftA[c]!;
      const a1 = shiftA[c + 1]!;
      const a2 = shiftA[c + 2]!;
      const a3 = shiftA[c + 3]!;
      const b0 = shiftB[c]!;
      const b1 = shiftB[c + 1]!;
      const b2 = shiftB[c + 2]!;
      const b3 = shiftB[c + 3]!;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let t0 = 0;
      let t1 = 0;
      let t2 = 0;
      let t3 = 0;
      let p0 = 0;
      let p1 = 0;
      let p2 = 0;
      let p3 = 0;
      for (let o = r0 * cols + c; o < end; o += cols) {
        const d0 = src[o]! - a0;
        const d1 = src[o + 1]! - a1;
        const d2 = src[o + 2]! - a2;
        const d3 = src[o + 3]! - a3;
        const e0 = other[o]! - b0;
        const e1 = other[o + 1]! - b1;
        const e2 = other[o + 2]! - b2;
        const e3 = other[o + 3]! - b3;
        s0 += d0;
        s1 += d1;
        s2 += d2;
        s3 += d3;
        t0 += e0;
        t1 += e1;
        t2 += e2;
        t3 += e3;
        p0 += d0 * e0;
        p1 += d1 * e1;
        p2 += d2 * e2;
        p3 += d3 * e3;
      }
      sumA[c]! += s0;
      sumA[c + 1]! += s1;
      sumA[c + 2]! += s2;
      sumA[c + 3]! += s3;
      sumB[c]! += t0;
      sumB[c + 1]! += t1;
      sumB[c + 2]! += t2;
      sumB[c + 3]! += t3;
      sumAB[c]! += p0;
      sumAB[c + 1]! += p1;
      sumAB[c + 2]! += p2;
      sumAB[c + 3]! += p3;
    }
    for (let c = wide; c < cols; c++) {
      const a = shiftA[c]!;
      const b = shiftB[c]!;
      let s = 0;
      let t = 0;
      let p = 0;
      for (let o = r0 * cols + c; o < end; o += cols) {
        const d = src[o]! - a;
        const e = other[o]! - b;
        s += d;
        t += e;
        p += d * e;
      }
      sumA[c]! += s;
      sumB[c]! += t;
      sumAB[c]! += p;
    }
  }
}

const zeroSums = (cols: number) => ({
  a: new Float64Array(cols),
  b: new Float64Array(cols),
  ab: new Float64Array(cols),
});

/**
 * Per-channel mean and biased variance of src seen as [rows, cols], written as float32 into mean and variance.
 * Exported for the tests.
 */
export function channelMoments(
  src: ArrayLike<number>,
  rows: number,
  cols: number,
  mean: Float32Array,
  variance: Float32Array,
): void {
  const shift = Float64Array.from({ length: cols }, (_, c) => src[c]!);
  const sums = zeroSums(cols);
  columnSums(src, src, rows, cols, shift, shift, sums);
  for (let c = 0; c < cols; c++) {
    const m = sums.a[c]! / rows;
    mean[c] = shift[c]! + m;
    variance[c] = Math.max(0, sums.ab[c]! / rows - m * m);
  }
}

/** y = (x − mean)·γ/sqrt(var + ε) + β over [rows, cols], as x·scale + shift. Exported for the tests. */
export function normalizeRows(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  mean: Float32Array,
  variance: Float32Array,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  epsilon: number,
  y: Float32Array,
): void {
  for (let c = 0; c < cols; c++) {
    const scale = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
    const shift = beta[c]! - mean[c]! * scale;
    // Columns outside, blocks of rows inside: the two coefficients stay in registers, the block in cache.
    for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
      for (let o = r0 * cols + c, end = Math.min(rows, r0 + ROW_BLOCK) * cols; o < end; o += cols) {
        y[o] = x[o]! * scale + shift;
      }
    }
  }
}

export interface BatchNormGradients {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/** The gradients of normalizeRows with mean and variance from channelMoments (see the top). For the tests too. */
export function batchNormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  mean: Float32Array,
  variance: Float32Array,
  gamma: ArrayLike<number>,
  epsilon: number,
  dmean: ArrayLike<number> | undefined,
  dvariance: ArrayLike<number> | undefined,
  out: BatchNormGradients,
): void {
  const inv = new Float64Array(cols);
  for (let c = 0; c < cols; c++) inv[c] = 1 / Math.sqrt(variance[c]! + epsilon);
  // Σ dy, Σ (x − μ) and Σ dy·(x − μ) per channel. The float32 μ misses the batch mean by up to half an ulp, and
  // N times that, multiplied out, was the largest error of dx: the exact mean is μ + Σ (x − μ)/N.
  const sums = zeroSums(cols);
  columnSums(dy, x, rows, cols, new Float64Array(cols), mean, sums);
  // dx = a·dy + b·(x − exact mean) + k per channel.
  const a = new Float64Array(cols);
  const b = new Float64Array(cols);
  const k = new Float64Array(cols);
  const centre = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    const i = inv[c]!;
    const gi = gamma[c]! * i;
    const offset = sums.b[c]! / rows;
    const sumDy = sums.a[c]!;
    const sumDyX = sums.ab[c]! - offset * sumDy;
    centre[c] = mean[c]! + offset;
    a[c] = gi;
    b[c] = (-gi * i * i * sumDyX) / rows + (dvariance ? (2 * dvariance[c]!) / rows : 0);
    k[c] = (-gi * sumDy) / rows + (dmean ? dmean[c]! / rows : 0);
    out.dgamma[c] = sumDyX * i;
    out.dbeta[c] = sumDy;
  }
  const dx = out.dx;
  for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
    const end = Math.min(rows, r0 + ROW_BLOCK) * cols;
    for (let c = 0; c < cols; c++) {
      const ac = a[c]!;
      const bc = b[c]!;
      const kc = k[c]!;
      const mu = centre[c]!;
      for (let o = r0 * cols + c; o < end; o += cols) dx[o] = ac * dy[o]! + bc * (x[o]! - mu) + kc;
    }
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
  const backend = args.backend as HeapBackend;
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([cols], 'float32');
  const variance = backend.makeOutput([cols], 'float32');
  // Views are taken after makeOutput: an allocation may grow the wasm heap and detach earlier views.
  const xv = backend.typedArrayFromHeap(x);
  const meanV = backend.typedArrayFromHeap(mean) as Float32Array;
  const varV = backend.typedArrayFromHeap(variance) as Float32Array;
  channelMoments(xv, rows, cols, meanV, varV);
  const yv = backend.typedArrayFromHeap(y) as Float32Array;
  normalizeRows(
    xv,
    rows,
    cols,
    meanV,
    varV,
    backend.typedArrayFromHeap(gamma),
    backend.typedArrayFromHeap(beta),
    epsilon,
    yv,
  );
  return [y, mean, variance];
}

function backward(args: KernelArgs): TensorInfo[] {
  const name = BATCH_NORM_TRAIN_GRAD;
  const [dy, x, gamma, mean, variance] = ['dy', 'x', 'gamma', 'mean', 'variance'].map((n) => required(args, n, name));
  const { dmean, dvariance } = args.inputs;
  const { epsilon } = args.attrs as unknown as { epsilon: number };
  const [rows, cols] = layout(x!);
  const backend = args.backend as HeapBackend;
  const outputs = [backend.makeOutput(x!.shape, 'float32'), backend.makeOutput([cols], 'float32')];
  outputs.push(backend.makeOutput([cols], 'float32'));
  const [dx, dgamma, dbeta] = outputs.map((t) => backend.typedArrayFromHeap(t) as Float32Array);
  const view = (t: TensorInfo | undefined) => (t === undefined ? undefined : backend.typedArrayFromHeap(t));
  batchNormBackward(
    view(dy)!,
    view(x)!,
    rows,
    cols,
    view(mean) as Float32Array,
    view(variance) as Float32Array,
    view(gamma)!,
    epsilon,
    view(dmean),
    view(dvariance),
    { dx: dx!, dgamma: dgamma!, dbeta: dbeta! },
  );
  return outputs;
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
