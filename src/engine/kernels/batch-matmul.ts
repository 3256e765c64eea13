/**
 * BatchMatMul for the wasm backend, replacing its own for one matrix times one matrix with a transpose flag:
 * the gradients of every Dense layer (dW = xᵀ·dy, dx = dy·Wᵀ).
 *
 * Why: tfjs-backend-wasm 4.22 sends any transposed (or batched) product to `slow_batch_matmul`, a scalar blocked
 * triple loop, and only untransposed single products to XNNPACK's fully-connected operator. Measured on one
 * thread: [64, 784]ᵀ·[64, 256] 28 ms, [64, 256]·[784, 256]ᵀ 14 ms, against 1.2 ms for the same work untransposed;
 * an MLP 784-256-128 training step spent 35 of its 50 ms there. Transposing the operand first (a copy) and taking
 * the fast path makes both about 2 ms.
 *
 * The product then sums in XNNPACK's order rather than the blocked loop's, so values change in their last bits:
 * part of version 4 of the kernels (src/engine/backend.ts). Batched products, other dtypes and untransposed
 * products go to the wasm kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BatchMatMulAttrs, Tensor, Tensor2D, TensorInfo } from '@tensorflow/tfjs';
import { asTensor, transposeRows } from './conv-util.js';
import { type KernelArgs, type KernelResult, wasmOverride } from './override.js';

/** [R, C] → [C, R] through the wasm Transpose kernel's sequential 3-D loop (see transposeRows). */
const transposed = (t: Tensor2D): Tensor2D => transposeRows(t, 1, t.shape[0], t.shape[1]);

function batchMatMul(args: KernelArgs, fallback: (args: KernelArgs) => KernelResult): KernelResult {
  const { a, b } = args.inputs as { a?: TensorInfo; b?: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  if (a === undefined || b === undefined || (!transposeA && !transposeB)) return fallback(args);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return fallback(args);
  const outer = (t: TensorInfo) => t.shape.slice(0, -2);
  if (tf.util.sizeFromShape(outer(a)) !== 1 || tf.util.sizeFromShape(outer(b)) !== 1) return fallback(args);
  const matrix = (t: TensorInfo, name: string): Tensor2D => {
    const [rows, cols] = t.shape.slice(-2) as [number, number];
    return tf.reshape(asTensor<Tensor>(t, 'BatchMatMul', name), [rows, cols]);
  };
  return tf.tidy(() => {
    const left = transposeA ? transposed(matrix(a, 'a')) : matrix(a, 'a');
    const right = transposeB ? transposed(matrix(b, 'b')) : matrix(b, 'b');
    const product = tf
      .engine()
      .runKernel<Tensor2D>('BatchMatMul', { a: left, b: right }, { transposeA: false, transposeB: false });
    // The leading ones of both inputs' batch dimensions, as the wasm kernel gives them.
    const batch = outer(a).length >= outer(b).length ? outer(a) : outer(b);
    return tf.reshape(product, [...batch, ...product.shape.slice(-2)]);
  });
}

export const batchMatMulOverride = wasmOverride('BatchMatMul', batchMatMul);
