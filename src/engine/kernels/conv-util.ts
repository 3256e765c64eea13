/**
 * Helpers shared by the convolution gradient kernels: explicit padding windows, wrapping kernel inputs as
 * tensors, and spreading dy by the forward stride for input gradients.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Tensor2D, Tensor4D, TensorInfo } from '@tensorflow/tfjs';

export type Conv2DInfo = tf.backend_util.Conv2DInfo;
export type Shape4 = [number, number, number, number];
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Zero padding (negative: rows/cols to crop) that makes the padded input exactly as large as the receptive field of
 * all outputs. TF's own padInfo.bottom/right can overshoot that (SAME with stride > 1) or undershoot it
 * (dimRoundingMode 'ceil'); trimming to the exact extent lets the compositions below produce exactly KH x KW taps
 * without a trailing slice.
 */
export interface Window {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function receptiveWindow(info: Conv2DInfo): Window {
  const neededH = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight;
  const neededW = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth;
  return {
    top: info.padInfo.top,
    left: info.padInfo.left,
    bottom: neededH - info.inHeight - info.padInfo.top,
    right: neededW - info.inWidth - info.padInfo.left,
  };
}

/**
 * Applies a window to a 4-D tensor whose axes 1 and 2 are spatial: crops what must be cropped (a slice op) and
 * returns the remaining padding in explicit form, so the consuming conv pads for free instead of a separate pad op.
 * Leading negative offsets are cropped too, for callers (the input gradient) whose top/left can be negative.
 */
export function cropForWindow(t: Tensor4D, w: Window): { input: Tensor4D; pad: ExplicitPad } {
  const [b, h, wd, c] = t.shape;
  const cropTop = Math.max(0, -w.top);
  const cropLeft = Math.max(0, -w.left);
  const cropBottom = Math.max(0, -w.bottom);
  const cropRight = Math.max(0, -w.right);
  const input =
    cropTop + cropLeft + cropBottom + cropRight > 0
      ? tf.slice(t, [0, cropTop, cropLeft, 0], [b, h - cropTop - cropBottom, wd - cropLeft - cropRight, c])
      : t;
  const pad: ExplicitPad = [
    [0, 0],
    [Math.max(0, w.top), Math.max(0, w.bottom)],
    [Math.max(0, w.left), Math.max(0, w.right)],
    [0, 0],
  ];
  return { input, pad };
}

/**
 * Wraps a kernel input so TF.js ops accept it. makeTensorFromTensorInfo does not add a backend reference, so
 * disposing the wrapper alone would free the caller's input data; incRef pairs it with the dispose done by the
 * caller's tidy, leaving the input's reference count as it was.
 */
export function asTensor<T extends Tensor = Tensor>(info: TensorInfo | undefined, kernel: string, name: string): T {
  if (info === undefined) throw new Error(`${kernel}: missing input '${name}'.`);
  const engine = tf.engine();
  const wrapper = engine.makeTensorFromTensorInfo(info);
  engine.backend.incRef(info.dataId);
  return wrapper as T;
}

/**
 * [P, X] -> [X, P] where P = a*b. The wasm Transpose kernel's 2-D loop writes with stride P and is up to 6x slower
 * than its 3-D loop (which writes sequentially), so the transpose is always issued as [a, b, X] -> [X, a, b].
 */
export function transposeRows(t: Tensor, a: number, b: number, x: number): Tensor2D {
  return tf.reshape(tf.transpose(tf.reshape(t, [a, b, x]), [2, 0, 1]), [x, a * b]);
}

/**
 * Inserts (stride − 1) zeros between the rows and columns of dy [N, OH, OW, C], the first step of an input
 * gradient computed as a stride-1 correlation. A pad of a rank-6 view does it at memcpy speed in wasm.
 */
export function spreadByStride(dy: Tensor4D, strideHeight: number, strideWidth: number): Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const holes = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [
    [0, 0],
    [0, 0],
    [0, strideHeight - 1],
    [0, 0],
    [0, strideWidth - 1],
    [0, 0],
  ]);
  return tf.reshape(holes, [n, oh * strideHeight, ow * strideWidth, c]);
}
