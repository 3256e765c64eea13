/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend, which ships no kernel for it.
 *
 * The input gradient of a depthwise conv is a depthwise conv of dy with the spatially flipped filter: dy is first
 * spread by the forward stride (zeros between rows and columns), padded by (effective filter size - 1 - forward
 * padding), and convolved at stride 1 with the forward dilation; for a channel multiplier M > 1 the M output
 * channels of each input channel are summed. The zero spreading is a pad of a rank-6 view, which the wasm backend
 * does at memcpy speed (0.8 ms for 64x14x14x16), and the conv runs on XNNPACK's 3x3/5x5 depthwise microkernels:
 * 64x28x28x16 at stride 2 takes about 2.5 ms, so splitting the filter into stride phases (fewer multiplies by the
 * inserted zeros, but s*s convs plus an interleave) was not worth its extra ops.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  DepthwiseConv2dNativeBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropInputInputs,
  KernelConfig,
  NamedAttrMap,
  NamedTensorInfoMap,
  Tensor,
  Tensor4D,
  TensorInfo,
} from '@tensorflow/tfjs';
import { asTensor, cropForWindow, spreadByStride, type Shape4 } from './conv-util.js';

export function depthwiseConv2dNativeBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: unknown;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, filter } = args.inputs as DepthwiseConv2dNativeBackpropInputInputs;
  if (dy === undefined || filter === undefined) {
    throw new Error('DepthwiseConv2dNativeBackpropInput: inputs dy and filter are required.');
  }
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    true,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const cm = info.outChannels;
  const m = cm / c;
  return tf.tidy(() => {
    const spread = spreadByStride(asTensor<Tensor4D>(dy, 'DepthwiseConv2dNativeBackpropInput', 'dy'), sh, sw);
    // Full correlation needs effective-size-1-pad on the leading side; the trailing side is whatever makes the
    // output exactly H x W (negative values crop the stride's trailing zeros or rows no input position reads).
    const { input, pad: explicitPad } = cropForWindow(spread, {
      top: info.effectiveFilterHeight - 1 - info.padInfo.top,
      left: info.effectiveFilterWidth - 1 - info.padInfo.left,
      bottom: h + info.padInfo.top - oh * sh,
      right: w + info.padInfo.left - ow * sw,
    });
    const flipped = tf.reshape(
      tf.reverse(asTensor<Tensor4D>(filter, 'DepthwiseConv2dNativeBackpropInput', 'filter'), [0, 1]),
      [kh, kw, cm, 1],
    );
    const dx = tf.engine().runKernel<Tensor>(
      'DepthwiseConv2dNative',
      { x: input, filter: flipped },
      {
        strides: [1, 1],
        dilations: [info.dilationHeight, info.dilationWidth],
        pad: explicitPad,
      },
    ); // [N, H, W, C*M]
    return m > 1 ? tf.sum(tf.reshape(dx, [n, h, w, c, m]), 4) : dx;
  });
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput,
};
