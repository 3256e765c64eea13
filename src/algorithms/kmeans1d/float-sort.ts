/**
 * Radix sorting of float32 values through their bit patterns (an Int32Array view of the values), and the
 * sort keys it rests on. Keys: negative floats flip all bits, others flip the sign bit, so keys order as
 * unsigned integers (−0 just below +0) and as the values do; the last pass of a sort stores the bit patterns
 * again. The digits are the keys' two 16-bit halves; `counts` holds 2 × 65536 counts, the low digit's first.
 */

// The per-value loops are small functions with one loop and a primitive result: V8 optimizes a long loop
// while it runs (on-stack replacement), and code after the loop in the same function has then never run, so
// it deoptimizes there, on every call.

/**
 * Counts the digits of the sort keys of the float32 bit patterns (see sortFloat32) into `counts` (the low
 * one only with `low`); returns how many values are not ±0, or −1 when one is ±Infinity or NaN.
 */
export function countKeyDigits(bits: Int32Array, counts: Int32Array, low: boolean): number {
  let nonZero = 0;
  let special = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const key = u ^ ((u >> 31) | 0x80000000);
    if (low) counts[key & 0xffff]!++;
    counts[0x10000 + (key >>> 16)]!++;
    special |= (u & 0x7f800000) === 0x7f800000 ? 1 : 0;
    nonZero += u & 0x7fffffff ? 1 : 0;
  }
  return special ? -1 : nonZero;
}

/** The index of the first ±Infinity or NaN, or −1. */
export function firstNonFinite(bits: Int32Array): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/** The bit patterns of the non-zero values, in order, into `kept` (one element longer than their count). */
export function compactNonZero(bits: Int32Array, kept: Int32Array): void {
  for (let i = 0, j = 0; i < bits.length; i++) {
    const u = bits[i]!;
    kept[j] = u;
    j += u & 0x7fffffff ? 1 : 0;
  }
}

const keyBits = new Int32Array(1);
const keyFloat = new Float32Array(keyBits.buffer);

/** The sort key of the float32 nearest x. */
export function keyOf(x: number): number {
  keyFloat[0] = x;
  const u = keyBits[0]!;
  return u ^ ((u >> 31) | 0x80000000);
}

/** The float32 bit pattern of a sort key. */
export function fromKey(key: number): number {
  return key ^ (~(key >> 31) | 0x80000000);
}

/** The float32 value of a sort key. */
export function keyValue(key: number): number {
  keyBits[0] = fromKey(key);
  return keyFloat[0]!;
}

/**
 * The float32 values with bit patterns `bits` sorted ascending (as Float32Array.prototype.sort orders them:
 * -0 before +0): an LSD radix sort of the bit patterns mapped to unsigned keys in numeric order, in two
 * passes of 16 bits (fewer passes beat the cache-friendlier 11-bit digits here), skipping a digit all keys
 * share. `counts` holds the counts of both digits (countKeyDigits). The first pass reads `bits` (which may be a
 * prefix of x), the last maps the keys back; the passes alternate between `x` and `y`. Values must not be
 * NaN. Returns a view of x or y.
 */
export function sortFloat32(bits: Int32Array, x: Int32Array, y: Int32Array, counts: Int32Array): Float32Array {
  const n = bits.length;
  const passes: [number, number][] = [];
  if (!toOffsets(counts, 0, n)) passes.push([0, 0]);
  if (!toOffsets(counts, 0x10000, n)) passes.push([0x10000, 16]);
  const xs = x.subarray(0, n);
  const ys = y.subarray(0, n);
  if (passes.length === 0) {
    // All values equal.
    xs.set(bits);
    return new Float32Array(xs.buffer, xs.byteOffset, n);
  }
  // The first pass must not write over its own input: when `bits` lies in x, it writes y.
  let dst = bits.buffer === xs.buffer && bits.byteOffset === xs.byteOffset ? ys : xs;
  let src: Int32Array = bits;
  for (const [p, [base, shift]] of passes.entries()) {
    const last = p === passes.length - 1;
    if (p === 0) scatterKeys(src, dst, counts, base, shift, last);
    else scatter(src, dst, counts, base, shift);
    src = dst;
    dst = dst === xs ? ys : xs;
  }
  return new Float32Array(src.buffer, src.byteOffset, n);
}

/** Turns the 65536 counts from `from` on into start offsets; true when one digit value holds all n keys (no pass needed). */
export function toOffsets(counts: Int32Array, from: number, n: number): boolean {
  let sum = 0;
  let all = false;
  for (let j = from; j < from + 0x10000; j++) {
    const t = counts[j]!;
    all ||= t === n;
    counts[j] = sum;
    sum += t;
  }
  return all;
}

/** The first pass: from bit patterns to keys (or straight back, when it is also the last). */
export function scatterKeys(
  bits: Int32Array,
  dst: Int32Array,
  counts: Int32Array,
  base: number,
  shift: number,
  last: boolean,
): void {
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const key = u ^ ((u >> 31) | 0x80000000);
    dst[counts[base + ((key >>> shift) & 0xffff)]!++] = last ? u : key;
  }
}

/** The second (last) pass: by the high digit, back to bit patterns. */
function scatter(src: Int32Array, dst: Int32Array, counts: Int32Array, base: number, shift: number): void {
  for (let i = 0; i < src.length; i++) {
    const key = src[i]!;
    dst[counts[base + ((key >>> shift) & 0xffff)]!++] = key ^ (~(key >> 31) | 0x80000000);
  }
}
