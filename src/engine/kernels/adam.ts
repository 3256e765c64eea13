/**
 * TF.js's Adam update on the wasm backend as one kernel per variable instead of fourteen ops (and two scalar
 * tensors made from JS numbers): ~40% of a mobilenet-v1 alpha 0.25 step's kernel calls were Adam's, most of them on
 * tensors of a few dozen values, where TF.js's per-op bookkeeping costs more than the arithmetic.
 *
 * The kernel repeats TF.js's float32 arithmetic operation by operation (each rounded to float32; +, −, ×, ÷ and
 * sqrt of float32 values in float64 then rounded give exactly the float32 result), so the weights are the same bits
 * as with TF.js's AdamOptimizer. The hook is AdamOptimizer.prototype.applyGradients, taken over for the wasm
 * backend only; the optimizer's state (moments, accBeta1/2, iterations) is kept in TF.js's own fields, so
 * getWeights, setWeights and dispose work unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, NamedTensorMap, Tensor, TensorInfo, Variable } from '@tensorflow/tfjs';
import type { HeapBackend, KernelArgs } from './override.js';

export const ADAM_UPDATE = 'McbAdamUpdate';

export interface AdamConstants {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}

/**
 * One Adam step in place of TF.js's ops: m' = m·β1 + g·(1−β1), v' = v·β2 + g²·(1−β2),
 * value' = value + (m'/(1−β1ᵗ)) / (sqrt(v'/(1−β2ᵗ)) + ε) · (−lr). Exported for the tests.
 */
export function adamUpdate(
  value: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  accBeta1: number,
  accBeta2: number,
  c: AdamConstants,
  out: { value: Float32Array; m: Float32Array; v: Float32Array },
): void {
  const f = Math.fround;
  // Scalars as TF.js makes them: JS numbers (1 − β computed in float64) turned into float32 tensors.
  const b1 = f(c.beta1);
  const b2 = f(c.beta2);
  const c1 = f(1 - c.beta1);
  const c2 = f(1 - c.beta2);
  const eps = f(c.epsilon);
  const lr = f(-c.learningRate);
  const bias1 = f(1 - accBeta1);
  const bias2 = f(1 - accBeta2);
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]!;
    const m1 = f(f(m[i]! * b1) + f(gi * c1));
    const v1 = f(f(v[i]! * b2) + f(f(gi * gi) * c2));
    const mHat = f(m1 / bias1);
    const vHat = f(v1 / bias2);
    out.m[i] = m1;
    out.v[i] = v1;
    out.value[i] = f(f(mHat / f(f(Math.sqrt(vHat)) + eps)) * lr) + value[i]!;
  }
}

function update(args: KernelArgs): TensorInfo[] {
  const names = ['value', 'm', 'v', 'gradient', 'accBeta1', 'accBeta2'];
  const [value, m, v, gradient, acc1, acc2] = names.map<TensorInfo>((n) => {
    const t = args.inputs[n];
    if (t === undefined) throw new Error(`${ADAM_UPDATE}: input '${n}' is required.`);
    return t;
  });
  const backend = args.backend as HeapBackend;
  const outputs = [value!, m!, v!].map((t) => backend.makeOutput(t.shape, 'float32'));
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  adamUpdate(
    view(value!),
    view(m!),
    view(v!),
    view(gradient!),
    view(acc1!)[0]!,
    view(acc2!)[0]!,
    args.attrs as unknown as AdamConstants,
    { value: view(outputs[0]!), m: view(outputs[1]!), v: view(outputs[2]!) },
  );
  return outputs;
}

export const adamUpdateConfig: KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: update,
};

/** The fields of TF.js's AdamOptimizer that applyGradients uses (protected or private in its typings). */
interface Adam extends AdamConstants {
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: { originalName: string; variable: Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: Variable }[];
  incrementIterations(): void;
}

type Gradients = NamedTensorMap | { name: string; tensor: Tensor }[];
type Apply = (this: Adam, gradients: Gradients) => void;

const PATCHED = Symbol.for('mcbuild.fusedAdam');

function fusedApply(this: Adam, variableGradients: Gradients): void {
  const list = Array.isArray(variableGradients) ? variableGradients : undefined;
  const names = list ? list.map((v) => v.name) : Object.keys(variableGradients);
  tf.tidy(() => {
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name]!;
      // As TF.js: moments are made on first use, named after the variable, indexed by position.
      this.accumulatedFirstMoment[i] ??= {
        originalName: `${name}/m`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      this.accumulatedSecondMoment[i] ??= {
        originalName: `${name}/v`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      const gradient = list ? list[i]!.tensor : (variableGradients as NamedTensorMap)[name];
      if (gradient == null) return;
      const m = this.accumulatedFirstMoment[i].variable;
      const v = this.accumulatedSecondMoment[i].variable;
      const attrs = { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, learningRate: this.learningRate };
      const inputs = { value, m, v, gradient, accBeta1: this.accBeta1, accBeta2: this.accBeta2 };
      const [newValue, newM, newV] = tf.engine().runKernel<Tensor[]>(ADAM_UPDATE, inputs, attrs);
      m.assign(newM!);
      v.assign(newV!);
      value.assign(newValue!);
    });
    this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
    this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
  });
  this.incrementIterations();
}

/** Only float32 variables and gradients take the kernel (TF.js trains float32 only, but checks nothing). */
function covered(gradients: Gradients): boolean {
  const tensors = Array.isArray(gradients) ? gradients.map((g) => g.tensor) : Object.values(gradients);
  const names = Array.isArray(gradients) ? gradients.map((g) => g.name) : Object.keys(gradients);
  return (
    tensors.every((t) => t == null || t.dtype === 'float32') &&
    names.every((n) => tf.engine().registeredVariables[n]?.dtype === 'float32')
  );
}

/** Routes AdamOptimizer.applyGradients on wasm to the kernel above. Idempotent; the kernel must be registered. */
export function installFusedAdam(): void {
  const proto = tf.AdamOptimizer.prototype as unknown as { applyGradients: Apply; [PATCHED]?: true };
  if (proto[PATCHED]) return;
  const original = proto.applyGradients;
  proto.applyGradients = function (this: Adam, gradients: Gradients) {
    if (tf.getBackend() === 'wasm' && covered(gradients)) fusedApply.call(this, gradients);
    else original.call(this, gradients);
  };
  proto[PATCHED] = true;
}
