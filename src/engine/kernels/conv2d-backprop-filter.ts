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
  NamedAttrMap,
  NamedTensorInfoMap,
  Tensor,
  Tensor2D,
  Tensor4D,
  TensorInfo,
} from '@tensorflow/tfjs';

import { asTensor, cropForWindow, receptiveWindow, transposeRows, type Conv2DInfo, type Shape4 } from './conv-util.js';

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
  const xT: Tensor4D = tf.reshape(tf.transpose(tf.reshape(x, [n, h * w, ci]), [2, 1, 0]), [ci, h, w, n]);
  const dyT: Tensor4D = tf.reshape(tf.transpose(tf.reshape(dy, [n, oh * ow, co]), [1, 0, 2]), [oh, ow, n, co]);
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
    const extracted = tf.engine().runKernel<Tensor>(
      'DepthwiseConv2dNative',
      { x: input, filter: oneHotTaps(kh, kw, ci) },
      {
        strides: [sh, sw],
        dilations: [1, 1],
        pad,
      },
    );
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
  kernelFunc: conv2DBackpropFilter,
};
