/**
 * Inference batch norm (FusedBatchNorm) for the wasm backend, replacing its own with the same values bit for bit,
 * in wasm SIMD (./team/simd.wat) split over the kernel team's threads (./team/team.ts).
 *
 * Why: the wasm kernel is one scalar loop with a float64 division and four wrap-around indexes per element, on
 * one thread. It was 52% of the kernel time of a 224×224 MobileNetV2 layers model's evaluation at 1 thread and
 * 64% at 2 (its convolutions got faster, it did not). The SIMD loop computes four channels at a time (the
 * division as two float64x2 ones) and is about 8x faster on one thread, and it runs on every thread.
 *
 * The arithmetic is the wasm kernel's, read from tfjs-backend-wasm 4.22's binary (its published sources differ):
 * out = f32(f64(f32(f32(x − mean)·scale)) / f64(f32 sqrt(f32(var + ε))) + f64(offset)), the division and the
 * addition in float64, rounded once. Covered: float32 x with channels last, and mean, variance, offset and scale
 * each of one value or one per channel (what tf.batchNorm gets from layers and converted graphs); other layouts,
 * and a backend whose memory we cannot find, go to the wasm kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { FusedBatchNormAttrs, TensorInfo } from '@tensorflow/tfjs';
import { type HeapBackend, type KernelArgs, type KernelResult, wasmOverride } from './override.js';
import { heapBlock, type HeapOwner } from './team/heap-block.js';
import { shares, teamFor } from './team/team.js';

/** Elements below which a part is not worth a thread's wake-up (~20 µs). */
const GRAIN = 64 * 1024;

type Backend = HeapBackend & HeapOwner;

function batchNorm(args: KernelArgs, fallback: (args: KernelArgs) => KernelResult): KernelResult {
  const { x, mean, variance, offset, scale } = args.inputs;
  if (x === undefined || mean === undefined || variance === undefined) return fallback(args);
  const cols = x.shape[x.shape.length - 1] ?? 1;
  const size = tf.util.sizeFromShape(x.shape);
  const params = [mean, variance, offset, scale].filter((t): t is TensorInfo => t !== undefined);
  const fits = (t: TensorInfo) => t.dtype === 'float32' && [1, cols].includes(tf.util.sizeFromShape(t.shape));
  const backend = args.backend as Backend;
  const team = teamFor(backend);
  if (team === undefined || x.dtype !== 'float32' || size === 0 || x.shape.length === 0 || !params.every(fits)) {
    return fallback(args);
  }

  const out = backend.makeOutput(x.shape, 'float32');
  // Per channel: mean and scale as float32 (one array's bytes), then the norm and offset as float64.
  const block = heapBlock(backend, 3, cols);
  try {
    // Views are taken after the last allocation: one may grow the wasm heap and detach earlier views.
    const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    const m = block.f32(0).subarray(0, cols);
    const s = block.f32(0).subarray(cols);
    const [n, o] = [block.f64(1), block.f64(2)];
    // One value per channel, as the wasm kernel reads them: its indexes wrap around each tensor's own size.
    const perChannel = (t: TensorInfo | undefined, into: Float32Array | Float64Array, absent: number) => {
      if (t === undefined) return into.fill(absent);
      const v = view(t);
      for (let c = 0; c < cols; c++) into[c] = v[v.length === 1 ? 0 : c]!;
      return into;
    };
    perChannel(mean, m, 0);
    perChannel(scale, s, 1);
    perChannel(offset, o, 0);
    // The wasm kernel receives ε as a float32 and takes a float32 square root, which it keeps as a float64.
    const epsilon = Math.fround((args.attrs as unknown as FusedBatchNormAttrs).varianceEpsilon);
    const v = view(variance);
    for (let c = 0; c < cols; c++) n[c] = Math.fround(Math.sqrt(Math.fround(v[v.length === 1 ? 0 : c]! + epsilon)));

    const xAt = view(x).byteOffset;
    const outAt = view(out).byteOffset;
    const rowBytes = 4 * cols;
    const parts = shares(team, size / cols, Math.ceil(GRAIN / cols)).map(([r0, r1]) => [
      xAt + r0 * rowBytes,
      outAt + r0 * rowBytes,
      r1 - r0,
      cols,
      m.byteOffset,
      s.byteOffset,
      block.address(1),
      block.address(2),
    ]);
    team.run('batchNormInference', parts);
  } finally {
    block.free();
  }
  return out;
}

export const batchNormInferenceOverride = wasmOverride('FusedBatchNorm', batchNorm);
