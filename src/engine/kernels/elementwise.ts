/**
 * GreaterEqual, LessEqual and LogicalAnd for the wasm backend, replacing its kernels when the operands have the same
 * shape or the second is a single value; other broadcasts go to the wasm kernels.
 *
 * These are most of the ReLU6 (clipByValue) gradient, where(logicalAnd(x >= 0, x <= 6), dy, 0), run once per
 * MobileNet activation. The wasm kernels run a generic broadcasting loop at about 3 ns per element (1-1.5 ms each
 * for 64x28x28x8); a typed-array loop halves that in training (14 -> 6 ms per step for each comparison in
 * mobilenet-v1 alpha 0.25). The same loop for Select was slower than the wasm kernel (7 -> 10 ms), so Select is
 * left alone.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import { type HeapBackend, type KernelArgs, type KernelResult, wasmOverride } from './override.js';

type Fallback = (args: KernelArgs) => KernelResult;
const NUMERIC = new Set(['float32', 'int32']);

function input(args: KernelArgs, name: string, kernel: string): TensorInfo {
  const t = args.inputs[name];
  if (t === undefined) throw new Error(`${kernel}: input '${name}' is required.`);
  return t;
}

/** 'same' when shapes match, 'scalar' when b is one value that broadcasts without changing a's shape. */
function pairing(a: TensorInfo, b: TensorInfo): 'same' | 'scalar' | undefined {
  if (tf.util.arraysEqual(a.shape, b.shape)) return 'same';
  if (tf.util.sizeFromShape(b.shape) === 1 && b.shape.length <= a.shape.length) return 'scalar';
  return undefined;
}

function compare(kernel: 'GreaterEqual' | 'LessEqual') {
  return (args: KernelArgs, fallback: Fallback): KernelResult => {
    const a = input(args, 'a', kernel);
    const b = input(args, 'b', kernel);
    const mode = pairing(a, b);
    if (mode === undefined || a.dtype !== b.dtype || !NUMERIC.has(a.dtype)) return fallback(args);
    const backend = args.backend as HeapBackend;
    const out = backend.makeOutput(a.shape, 'bool');
    // Views are taken after makeOutput: an allocation may grow the wasm heap and detach earlier views.
    const dst = backend.typedArrayFromHeap(out);
    const av = backend.typedArrayFromHeap(a);
    const bv = backend.typedArrayFromHeap(b);
    const n = dst.length;
    if (mode === 'scalar') {
      const s = bv[0]!;
      if (kernel === 'GreaterEqual') for (let i = 0; i < n; i++) dst[i] = av[i]! >= s ? 1 : 0;
      else for (let i = 0; i < n; i++) dst[i] = av[i]! <= s ? 1 : 0;
    } else if (kernel === 'GreaterEqual') {
      for (let i = 0; i < n; i++) dst[i] = av[i]! >= bv[i]! ? 1 : 0;
    } else {
      for (let i = 0; i < n; i++) dst[i] = av[i]! <= bv[i]! ? 1 : 0;
    }
    return out;
  };
}

function logicalAnd(args: KernelArgs, fallback: Fallback): KernelResult {
  const a = input(args, 'a', 'LogicalAnd');
  const b = input(args, 'b', 'LogicalAnd');
  if (pairing(a, b) !== 'same' || a.dtype !== 'bool' || b.dtype !== 'bool') return fallback(args);
  const backend = args.backend as HeapBackend;
  const out = backend.makeOutput(a.shape, 'bool');
  const dst = backend.typedArrayFromHeap(out);
  const av = backend.typedArrayFromHeap(a);
  const bv = backend.typedArrayFromHeap(b);
  for (let i = 0; i < dst.length; i++) dst[i] = av[i]! & bv[i]!;
  return out;
}

export const greaterEqualOverride = wasmOverride('GreaterEqual', compare('GreaterEqual'));
export const lessEqualOverride = wasmOverride('LessEqual', compare('LessEqual'));
export const logicalAndOverride = wasmOverride('LogicalAnd', logicalAnd);
