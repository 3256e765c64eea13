/**
 * Conv2DBackpropFilter for the wasm backend, which ships no kernel for it.
 *
 * dW[kh, kw, ci, co] = sum over n, oh, ow of xPadded[n, oh*s + kh, ow*s + kw, ci] * dy[n, oh, ow, co].
 *
 * Two compositions of XNNPACK-backed ops are used, picked by shape (timings on a 2-core machine, wasm SIMD):
 *  - "conv trick": the sum above is itself a convolution, with x transposed to [Ci, H, W, N] as the input and dy
 *    transposed to [OH, OW, N, Co] as the filter, dilated by the forward stride. One conv2d does all the work.
 *    Fastest when Ci*KH*KW is large (e.g. 64x28x28x16 -> 32: 36 ms vs 59 ms for im2col).
 *  - "im2col": a depthwise conv with a one-hot filter extracts all KH*KW taps in one op, then one matMul contracts
 *    over N*OH*OW. XNNPACK transposes a conv filter with a cache-hostile 2-D loop when it builds the operator, so
 *    the conv trick degrades as Co grows relative to Ci*KH*KW; im2col wins there (64x28x28x1 -> 64: 4 ms vs 39 ms)
 *    and for 1x1 filters, where it is a plain matMul.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropFilterInputs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  Tensor,
  Tensor2D,
  Tensor4D,
  TensorInfo,
} from '@tensorflow/tfjs';

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Shape4 = [number, number, number, number];
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

/** Filter [KH, KW, C, KH*KW] whose depthwise conv copies tap k of every channel c to output channel c*KH*KW + k. */
export function oneHotTaps(kh: number, kw: number, channels: number): Tensor4D {
  const taps = kh * kw;
  const values = new Float32Array(taps * channels * taps);
  for (let k = 0; k < taps; k++) {
    for (let c = 0; c < channels; c++) values[(k * channels + c) * taps + k] = 1;
  }
  return tf.tensor4d(values, [kh, kw, channels, taps]);
}

function viaConvolution(x: Tensor4D, dy: Tensor4D, info: Conv2DInfo): Tensor {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = info;
  // Channels become the batch and the batch becomes the contracted channel axis; 3-D transposes (see transposeRows).
  const xT = tf.reshape(tf.transpose(tf.reshape(x, [n, h * w, ci]), [2, 1, 0]), [ci, h, w, n]) as Tensor4D;
  const dyT = tf.reshape(tf.transpose(tf.reshape(dy, [n, oh * ow, co]), [1, 0, 2]), [oh, ow, n, co]) as Tensor4D;
  const { input, pad } = cropForWindow(xT, receptiveWindow(info));
  // Forward stride s becomes the filter dilation; the forward dilation is always 1 for this kernel.
  const out = tf.conv2d(input, dyT, 1, pad, 'NHWC', [info.strideHeight, info.strideWidth]); // [Ci, KH, KW, Co]
  return tf.transpose(tf.reshape(out, [ci, kh * kw, co]), [1, 0, 2]);
}

function viaIm2col(x: Tensor4D, dy: Tensor4D, info: Conv2DInfo): Tensor {
  const { batchSize: n, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const taps = kh * kw;
  const rows = n * oh * ow;
  const window = receptiveWindow(info);
  const identity = taps === 1 && sh === 1 && sw === 1 && Object.values(window).every((v) => v === 0);
  let patches: Tensor2D; // [N*OH*OW, Ci*KH*KW], column ci*KH*KW + k
  if (identity) {
    patches = tf.reshape(x, [rows, ci]);
  } else {
    const { input, pad } = cropForWindow(x, window);
    const extracted = tf.engine().runKernel(
      'DepthwiseConv2dNative',
      { x: input, filter: oneHotTaps(kh, kw, ci) },
      { strides: [sh, sw], dilations: [1, 1], pad } as unknown as NamedAttrMap,
    ) as Tensor;
    patches = tf.reshape(extracted, [rows, ci * taps]);
  }
  const dy2 = tf.reshape(dy, [rows, co]);
  // XNNPACK's matMul only takes the fast path without transpose flags, so the operand with fewer columns is
  // transposed explicitly; the other becomes the packed "weights".
  if (ci * taps <= co) {
    const out = tf.matMul(transposeRows(patches, n, oh * ow, ci * taps), dy2); // [Ci*KH*KW, Co]
    return tf.transpose(tf.reshape(out, [ci, taps, co]), [1, 0, 2]);
  }
  const out = tf.matMul(transposeRows(dy2, n, oh * ow, co), patches); // [Co, Ci*KH*KW]
  return tf.transpose(tf.reshape(out, [co, ci, taps]), [2, 1, 0]);
}

export function conv2DBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x, dy } = args.inputs as Conv2DBackpropFilterInputs;
  if (x === undefined || dy === undefined) throw new Error('Conv2DBackpropFilter: inputs x and dy are required.');
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') {
    throw new Error("Conv2DBackpropFilter on wasm supports dataFormat 'NHWC' only, got 'NCHW'.");
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  return tf.tidy(() => {
    const xt = asTensor<Tensor4D>(x, 'Conv2DBackpropFilter', 'x');
    const dyt = asTensor<Tensor4D>(dy, 'Conv2DBackpropFilter', 'dy');
    const taps = info.filterHeight * info.filterWidth;
    const im2col = taps === 1 || info.outChannels >= info.inChannels * taps;
    const dw = im2col ? viaIm2col(xt, dyt, info) : viaConvolution(xt, dyt, info);
    return tf.reshape(dw, filterShape);
  });
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as KernelFunc,
};
