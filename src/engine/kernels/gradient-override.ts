/**
 * Replacing TF.js's gradient of a kernel on the wasm backend only: gradients are registered per kernel, not per
 * backend, so the replacement checks the backend at each call and hands every other case (other backends, dtypes
 * or shapes it does not cover) to the gradient TF.js registered, captured when the replacement is installed.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs';

export type GradResult = Record<string, () => Tensor>;

/** Returns the wasm gradient, or undefined to use TF.js's own. */
export type WasmGrad = (dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) => GradResult | undefined;

const OURS = Symbol.for('mcbuild.wasmGradient');

export function overrideGradientOnWasm(kernelName: string, wasm: WasmGrad): void {
  const original = tf.getGradient(kernelName) as (GradConfig & { [OURS]?: true }) | undefined;
  if (original === undefined) throw new Error(`TF.js registers no gradient for ${kernelName}.`);
  if (original[OURS]) return;
  const config: GradConfig & { [OURS]: true } = {
    ...original,
    gradFunc: (dy, saved, attrs) =>
      (tf.getBackend() === 'wasm' ? wasm(dy as Tensor, saved, attrs) : undefined) ??
      original.gradFunc(dy, saved, attrs),
    [OURS]: true,
  };
  tf.registerGradient(config);
}
