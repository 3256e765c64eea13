/**
 * Conv2DBackpropInput for the wasm backend, replacing its own: the wasm kernel is a naive C++ loop (34 ms where the
 * same work as an XNNPACK conv2d takes 3.8 ms), and the input gradient of every pointwise conv of a MobileNet
 * runs through it.
 *
 *  - 1x1 filter, stride 1, no padding (all MobileNet pointwise convs): dx[N*H*W, Ci] = dy[N*H*W, Co] * W[Ci, Co]^T,
 *    one matMul. The small filter is transposed explicitly because XNNPACK's matMul is only fast without
 *    transpose flags.
 *  - otherwise: the input gradient is a stride-1 conv of dy, spread by the forward stride (zeros between rows and
 *    columns) and padded by (filter size - 1 - forward padding), with the spatially flipped filter whose in/out
 *    channel axes are swapped; the same construction as depthwise-backprop-input.ts.
 * NCHW goes to the wasm kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { Conv2DBackpropInputAttrs, Conv2DBackpropInputInputs, Tensor4D } from '@tensorflow/tfjs';
import { asTensor, cropForWindow, spreadByStride, type Shape4 } from './conv-util.js';
import { type KernelArgs, type KernelResult, wasmOverride } from './override.js';

function conv2DBackpropInput(args: KernelArgs, fallback: (args: KernelArgs) => KernelResult): KernelResult {
  const { dy, filter } = args.inputs as Conv2DBackpropInputInputs;
  if (dy === undefined || filter === undefined)
    throw new Error('Conv2DBackpropInput: inputs dy and filter are required.');
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW') return fallback(args);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  return tf.tidy(() => {
    const dyt = asTensor<Tensor4D>(dy, 'Conv2DBackpropInput', 'dy');
    const wt = asTensor<Tensor4D>(filter, 'Conv2DBackpropInput', 'filter');
    const pointwise =
      kh === 1 && kw === 1 && sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0 && oh === h && ow === w;
    if (pointwise) {
      const wT = tf.transpose(tf.reshape(wt, [ci, co])); // [Co, Ci]
      return tf.reshape(tf.matMul(tf.reshape(dyt, [n * oh * ow, co]), wT), [n, h, w, ci]);
    }
    const spread = spreadByStride(dyt, sh, sw);
    // Leading side: full correlation; trailing side: whatever makes the output exactly H x W (negative crops the
    // stride's trailing zeros, or rows no output read in the forward pass).
    const { input, pad: explicitPad } = cropForWindow(spread, {
      top: kh - 1 - padInfo.top,
      left: kw - 1 - padInfo.left,
      bottom: h + padInfo.top - oh * sh,
      right: w + padInfo.left - ow * sw,
    });
    const flipped: Tensor4D = tf.transpose(tf.reverse(wt, [0, 1]), [0, 1, 3, 2]); // [KH, KW, Co, Ci]
    return tf.conv2d(input, flipped, 1, explicitPad);
  });
}

export const conv2DBackpropInputOverride = wasmOverride('Conv2DBackpropInput', conv2DBackpropInput);
