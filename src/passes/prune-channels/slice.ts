/** Slicing kept channels out of a weight: shared by the layers and the graph rewrites. */

/** Element arrays a weight is sliced in: float32 values, or the uint8/uint16 of a form the source stored. */
export type Elements = Float32Array | Uint8Array | Uint16Array;

export interface Sliced<T extends Elements = Elements> {
  shape: number[];
  values: T;
}

/** Keeps the entries `keep` of axis `axis` (0-based) of a weight, in an array of the same kind. */
export function sliceAxis<T extends Elements>(w: Sliced<T>, axis: number, keep: readonly number[]): Sliced<T> {
  const { shape, values } = w;
  const dim = shape[axis]!;
  const outer = shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const inner = shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const out = new (values.constructor as new (n: number) => T)(outer * keep.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const k of keep) {
      const from = (i * dim + k) * inner;
      out.set(values.subarray(from, from + inner), o);
      o += inner;
    }
  }
  const next = [...shape];
  next[axis] = keep.length;
  return { shape: next, values: out };
}
