/**
 * Identity for the wasm backend, replacing its own, which copies the data. Tensors are immutable in TF.js, so the
 * output can share the input's buffer with one more reference, as the cpu and webgl backends' Identity do. A
 * training step runs Identity hundreds of times (cast gradients, clones in the optimizer and tape), and the
 * copies cost 13 ms of a 330 ms mobilenet-v1 alpha 0.25 step.
 */
import type { IdentityInputs, TensorInfo } from '@tensorflow/tfjs';
import { type KernelArgs, type KernelResult, wasmOverride } from './override.js';

function identity(args: KernelArgs, fallback: (args: KernelArgs) => KernelResult): KernelResult {
  const { x } = args.inputs as IdentityInputs;
  if (x === undefined) throw new Error("Identity: input 'x' is required.");
  // String tensors live in JS, not in the heap; the wasm kernel handles them.
  if (x.dtype === 'string') return fallback(args);
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  const out: TensorInfo = { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  return out;
}

export const identityOverride = wasmOverride('Identity', identity);
