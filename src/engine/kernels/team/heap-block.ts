/**
 * Scratch in the wasm heap for the SIMD loops (./simd.wat), which read only the heap: per-channel float64
 * coefficients and sums. A block is a float32 tensor the backend allocates, so the backend's allocator owns the
 * memory, and is freed with `free` (in a `finally`: nothing is left behind when a kernel throws).
 */
import type { DataId, DataType, TensorInfo } from '@tensorflow/tfjs';

export interface HeapOwner {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

export interface HeapBlock {
  /** The byte address of the i-th of the block's float64 arrays (8-byte aligned). */
  address(i: number): number;
  /**
   * A view of the i-th array. Take views after the kernel's last allocation: an allocation may grow the heap,
   * which detaches the views of the single-threaded backend's memory.
   */
  f64(i: number): Float64Array;
  /** The same bytes as `2 × length` float32s (for loops that read float32 coefficients). */
  f32(i: number): Float32Array;
  free(): void;
}

/** `count` float64 arrays of `length` zeros each. */
export function heapBlock(backend: HeapOwner, count: number, length: number): HeapBlock {
  // Two float32s per float64, and one float64 of slack for the alignment.
  const block = backend.makeOutput([2 * count * length + 2], 'float32');
  const base = (backend.typedArrayFromHeap(block).byteOffset + 7) & ~7;
  const address = (i: number) => base + 8 * i * length;
  const heap = () => backend.typedArrayFromHeap(block).buffer;
  const f64 = (i: number) => new Float64Array(heap(), address(i), length);
  const f32 = (i: number) => new Float32Array(heap(), address(i), 2 * length);
  for (let i = 0; i < count; i++) f64(i).fill(0);
  return { address, f64, f32, free: () => backend.disposeData(block.dataId, true) };
}
