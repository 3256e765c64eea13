/**
 * Gradient kernels the TF.js wasm backend lacks, so CNNs (conv2d, depthwiseConv2d) can be trained on it, and
 * replacements for wasm kernels that dominate a MobileNet training step (see each file for measurements).
 *
 * This module imports TF.js statically; code that keeps TF.js lazily loaded should import it dynamically after the
 * engine has loaded. Registration does not need the wasm backend to be initialised.
 */
import * as tf from '@tensorflow/tfjs';
import { clipGradConfig, installActivationGradients, reluGradConfig } from './activation-grads.js';
import { adamUpdateConfig, installFusedAdam } from './adam.js';
import { batchNormInferenceOverride } from './batchnorm-inference.js';
import { installFusedBatchNorm, movingAveragesConfig } from './batchnorm-layer.js';
import { batchNormTrainConfig, batchNormTrainGradConfig, batchNormTrainGradKernelConfig } from './batchnorm-train.js';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input.js';
import { conv2DBackpropInputOverride } from './conv2d-backprop-input.js';
import { greaterEqualOverride, lessEqualOverride, logicalAndOverride } from './elementwise.js';
import { identityOverride } from './identity.js';
import { installMeanGradient } from './mean-grad.js';
import type { WasmOverride } from './override.js';
import { meanOverride, sumOverride } from './reduce-leading.js';
import { installFusedReluMax, reluMaxConfig, reluMaxGradConfig, reluMaxGradKernelConfig } from './relu6-layer.js';
import { sliceOverride } from './slice.js';
import { tileOverride } from './tile.js';

export { conv2DBackpropFilter, conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
export {
  depthwiseConv2dNativeBackpropFilter,
  depthwiseConv2dNativeBackpropFilterConfig,
} from './depthwise-backprop-filter.js';
export {
  depthwiseConv2dNativeBackpropInput,
  depthwiseConv2dNativeBackpropInputConfig,
} from './depthwise-backprop-input.js';

export { tileInto } from './tile.js';
export { sumRows } from './reduce-leading.js';
export { setKernelThreads } from './team/team.js';

export const wasmTrainingKernels: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
];

/** mcbuild's own kernels (names starting with Mcb), used by the fused training paths registered with them. */
export const wasmFusedKernels: readonly tf.KernelConfig[] = [
  batchNormTrainConfig,
  batchNormTrainGradKernelConfig,
  movingAveragesConfig,
  reluGradConfig,
  clipGradConfig,
  adamUpdateConfig,
  reluMaxConfig,
  reluMaxGradKernelConfig,
];

/** Faster versions of kernels the wasm backend has; each hands the cases it does not cover to the original. */
export const wasmKernelOverrides: readonly WasmOverride[] = [
  tileOverride,
  sumOverride,
  meanOverride,
  conv2DBackpropInputOverride,
  identityOverride,
  greaterEqualOverride,
  lessEqualOverride,
  logicalAndOverride,
  batchNormInferenceOverride,
  sliceOverride,
];

// getKernel is typed as always returning a config but yields undefined for unknown kernels.
const registered = (name: string): tf.KernelConfig | undefined => tf.getKernel(name, 'wasm');

/**
 * Registers the kernels for the 'wasm' backend, and the fused training paths that use them. Safe to call any number
 * of times, before or after the backend initialises: a missing kernel already registered (by an earlier call, or by a future TF.js release that ships its
 * own) is left alone, and an override already in place is not registered again, which also avoids TF.js's
 * "already registered" warning.
 */
export function registerWasmTrainingKernels(): void {
  for (const config of [...wasmTrainingKernels, ...wasmFusedKernels]) {
    if (registered(config.kernelName) === undefined) tf.registerKernel(config);
  }
  // The fused training paths: each takes effect on the wasm backend only and leaves the others to TF.js.
  tf.registerGradient(batchNormTrainGradConfig);
  tf.registerGradient(reluMaxGradConfig);
  installFusedBatchNorm();
  installFusedReluMax();
  installActivationGradients();
  installMeanGradient();
  installFusedAdam();
  for (const override of wasmKernelOverrides) {
    const current = registered(override.config.kernelName);
    if (current?.kernelFunc === override.config.kernelFunc) continue;
    override.bind(current);
    if (current !== undefined) tf.unregisterKernel(current.kernelName, 'wasm');
    tf.registerKernel(override.config);
  }
}
