/**
 * Magnitude selection on float32 arrays, in place and without a sort: the smallest magnitudes of one or more
 * arrays (pruneSmallest) and the N largest of every M along a kernel's input dimension (pruneNM). Both work on
 * the IEEE 754 bit patterns, whose magnitude bits (sign cleared) order exactly as the magnitudes do, so a
 * selection is a histogram or a few integer comparisons, and masking a value is an AND. A value set to zero is
 * +0. Ties go by position, so every count is exact and every result deterministic.
 */

/**
 * The zeros of v; -0 (a negative weight times a zero mask) is stored as +0: the same value, cleaner bytes.
 * On the bit patterns and without branches: zeros at random positions would mispredict.
 */
export function countZeros(v: Float32Array): number {
  const bits = new Int32Array(v.buffer, v.byteOffset, v.length);
  let nonZero = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    // 1 unless the magnitude bits are 0 (the negation of a positive int32 is negative).
    const nz = -(u & 0x7fffffff) >>> 31;
    bits[i] = u & -nz;
    nonZero += nz;
  }
  return bits.length - nonZero;
}

/**
 * Sets exactly min(k, n) of the smallest |v| over the arrays (taken as one sequence) to zero: everything
 * below the k-th smallest magnitude, then values equal to it in order until k are zero. Values already
 * zero count among the smallest.
 *
 * The threshold comes from a radix selection on the bits: with the sign cleared, the IEEE 754 bit patterns
 * of float32 values order exactly as their magnitudes. One histogram of the top 16 bits finds the bucket
 * holding the k-th smallest, a second of the low 15 bits within that bucket finds its exact value: two
 * linear passes, no copy and no sort.
 */
export function pruneSmallest(arrays: readonly Float32Array[], k: number): void {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  if (k <= 0 || n === 0) return;
  if (k >= n) {
    for (const a of arrays) a.fill(0);
    return;
  }
  const views = arrays.map((a) => new Uint32Array(a.buffer, a.byteOffset, a.length));
  const high = new Uint32Array(1 << 16);
  for (const u of views) for (let i = 0; i < u.length; i++) high[(u[i]! & 0x7fffffff) >>> 15]!++;
  let below = 0;
  let bucket = 0;
  while (below + high[bucket]! < k) below += high[bucket++]!;
  const low = new Uint32Array(1 << 15);
  for (const u of views) {
    for (let i = 0; i < u.length; i++) {
      const m = u[i]! & 0x7fffffff;
      if (m >>> 15 === bucket) low[m & 0x7fff]!++;
    }
  }
  let rest = 0;
  while (below + low[rest]! < k) below += low[rest++]!;
  const threshold = ((bucket << 15) | rest) >>> 0;
  let ties = k - below;
  for (const u of views) ties = zeroBelow(new Int32Array(u.buffer, u.byteOffset, u.length), threshold, ties);
}

/**
 * Zeroes (+0) every value whose magnitude bits are below `threshold`, and the first `ties` equal to it;
 * returns the ties left. The common case is a mask, not a branch: which values fall below is random.
 */
function zeroBelow(bits: Int32Array, threshold: number, ties: number): number {
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const m = u & 0x7fffffff;
    // m − threshold < 0 exactly when m < threshold (both below 2^31): an all-ones mask, else none.
    bits[i] = u & ~((m - threshold) >> 31);
    if (m === threshold && ties > 0) {
      bits[i] = 0;
      ties--;
    }
  }
  return ties;
}

/**
 * N:M along the input dimension: a kernel [..., D, O] (Dense [in, out], Conv2D [kh, kw, in, out]) holds, for
 * each leading position and output o, D weights strided by O; in each run of M of them the N largest
 * magnitudes stay (the earlier one on a tie) and the rest become zero.
 */
export function pruneNM(v: Float32Array, shape: readonly number[], n: number, m: number): void {
  const d = shape[shape.length - 2]!;
  const o = shape[shape.length - 1]!;
  const outer = v.length / (d * o);
  if (m === 4) {
    pruneN4(new Int32Array(v.buffer, v.byteOffset, v.length), outer, d, o, n);
    return;
  }
  if (m <= 16) {
    pruneNMSmall(new Int32Array(v.buffer, v.byteOffset, v.length), outer, d, o, n, m);
    return;
  }
  const mags = new Float64Array(m);
  const order = new Int32Array(m);
  // Groups are visited block by block (M consecutive rows of O, contiguous), so a block stays in cache.
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += m) {
      const base = (lead * d + g) * o;
      for (let col = 0; col < o; col++) {
        for (let i = 0; i < m; i++) {
          mags[i] = Math.abs(v[base + i * o + col]!);
          order[i] = i;
        }
        // Order the group by magnitude, descending, earlier positions first on ties.
        order.sort((x, y) => mags[y]! - mags[x]! || x - y);
        for (let i = n; i < m; i++) v[base + order[i]! * o + col] = 0;
      }
    }
  }
}

/** pruneNMSmall for M = 4, unrolled: six comparisons give the four ranks. */
function pruneN4(bits: Int32Array, outer: number, d: number, o: number, n: number): void {
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += 4) {
      const b0 = (lead * d + g) * o;
      const b1 = b0 + o;
      const b2 = b1 + o;
      const b3 = b2 + o;
      for (let col = 0; col < o; col++) {
        const u0 = bits[b0 + col]!;
        const u1 = bits[b1 + col]!;
        const u2 = bits[b2 + col]!;
        const u3 = bits[b3 + col]!;
        const a0 = u0 & 0x7fffffff;
        const a1 = u1 & 0x7fffffff;
        const a2 = u2 & 0x7fffffff;
        const a3 = u3 & 0x7fffffff;
        // cij = 1 when value j is larger than value i (i < j), from the sign of the difference.
        const c01 = (a0 - a1) >>> 31;
        const c02 = (a0 - a2) >>> 31;
        const c03 = (a0 - a3) >>> 31;
        const c12 = (a1 - a2) >>> 31;
        const c13 = (a1 - a3) >>> 31;
        const c23 = (a2 - a3) >>> 31;
        const r0 = c01 + c02 + c03;
        const r1 = 1 - c01 + c12 + c13;
        const r2 = 2 - c02 - c12 + c23;
        const r3 = 3 - c03 - c13 - c23;
        bits[b0 + col] = u0 & ((r0 - n) >> 31);
        bits[b1 + col] = u1 & ((r1 - n) >> 31);
        bits[b2 + col] = u2 & ((r2 - n) >> 31);
        bits[b3 + col] = u3 & ((r3 - n) >> 31);
      }
    }
  }
}

/**
 * pruneNM for M ≤ 16 on the float32 bit patterns, whose magnitude bits (sign cleared) order as the
 * magnitudes do: value i of a group keeps its place in the stable descending order, its rank, = the number
 * of values larger than it plus those equal to it at an earlier position; it stays when its rank is below N.
 * Counting and masking need no branches, where sorting four random magnitudes mispredicts half its branches.
 */
function pruneNMSmall(bits: Int32Array, outer: number, d: number, o: number, n: number, m: number): void {
  const group = new Int32Array(m);
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += m) {
      const base = (lead * d + g) * o;
      for (let col = 0; col < o; col++) {
        for (let i = 0; i < m; i++) group[i] = bits[base + i * o + col]! & 0x7fffffff;
        for (let i = 0; i < m; i++) {
          const mi = group[i]!;
          let rank = 0;
          for (let j = 0; j < i; j++) rank += group[j]! >= mi ? 1 : 0;
          for (let j = i + 1; j < m; j++) rank += group[j]! > mi ? 1 : 0;
          const at = base + i * o + col;
          // rank − n < 0: keep (all-ones mask); else +0.
          bits[at] = bits[at]! & ((rank - n) >> 31);
        }
      }
    }
  }
}
