/**
 * Slice for the wasm backend, replacing its own for slices that are one contiguous run of the input: the batches
 * a LayersModel's predict and fit cut from their inputs. The wasm kernel first reads the whole input out of the
 * heap into a new JS array (readSync copies) and copies the slice from there: 110 ms for a batch of 32 224×224
 * images cut from 32, a sixth of the evaluation's non-convolution time at 2 threads. Here a slice that is the
 * whole input shares its buffer, as Identity does (./identity.ts), and any other contiguous one is one copy
 * inside the heap. Same values; other slices go to the wasm kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { SliceAttrs, SliceInputs, TensorInfo } from '@tensorflow/tfjs';
import { type HeapBackend, type KernelArgs, type KernelResult, wasmOverride } from './override.js';

function slice(args: KernelArgs, fallback: (args: KernelArgs) => KernelResult): KernelResult {
  const { x } = args.inputs as SliceInputs;
  if (x === undefined) throw new Error("Slice: input 'x' is required.");
  if (x.dtype === 'string' || x.dtype === 'complex64') return fallback(args);
  const { begin, size } = args.attrs as unknown as SliceAttrs;
  const [from, shape] = tf.slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
  if (!tf.slice_util.isSliceContinous(x.shape, from, shape)) return fallback(args);
  const backend = args.backend as HeapBackend & { incRef(dataId: object): void };
  if (tf.util.arraysEqual(shape, x.shape)) {
    backend.incRef(x.dataId);
    const out: TensorInfo = { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    return out;
  }
  const out = backend.makeOutput(shape, x.dtype);
  const count = tf.util.sizeFromShape(shape);
  if (count === 0) return out;
  const offset = tf.slice_util.computeFlatOffset(from, tf.util.computeStrides(x.shape));
  // Views are taken after makeOutput: an allocation may grow the wasm heap and detach earlier views.
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x).subarray(offset, offset + count));
  return out;
}

export const sliceOverride = wasmOverride('Slice', slice);
