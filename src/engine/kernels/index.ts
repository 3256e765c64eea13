/**
 * Gradient kernels the TF.js wasm backend lacks, so CNNs (conv2d, depthwiseConv2d) can be trained on it.
 *
 * This module imports TF.js statically; code that keeps TF.js lazily loaded should import it dynamically after the
 * engine has loaded. Registration does not need the wasm backend to be initialised.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input.js';

export { conv2DBackpropFilter, conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
export {
  depthwiseConv2dNativeBackpropFilter,
  depthwiseConv2dNativeBackpropFilterConfig,
} from './depthwise-backprop-filter.js';
export {
  depthwiseConv2dNativeBackpropInput,
  depthwiseConv2dNativeBackpropInputConfig,
} from './depthwise-backprop-input.js';

export const wasmTrainingKernels: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
];

/**
 * Registers the kernels for the 'wasm' backend. Safe to call any number of times: a kernel already registered
 * (by an earlier call, or by a future TF.js release that ships its own) is left alone, which also avoids TF.js's
 * "already registered" warning.
 */
export function registerWasmTrainingKernels(): void {
  for (const config of wasmTrainingKernels) {
    // getKernel is typed as always returning a config but yields undefined for unknown kernels.
    if ((tf.getKernel(config.kernelName, config.backendName) as tf.KernelConfig | undefined) === undefined) {
      tf.registerKernel(config);
    }
  }
}
