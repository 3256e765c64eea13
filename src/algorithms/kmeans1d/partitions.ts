import { keyOf, keyValue } from './float-sort.js';

/**
 * Sort keys partitioned by their high 16 bits (partition d at starts[d] … starts[d + 1]), which order as
 * the values do: every value of a partition below d is smaller than every value of d.
 */
export class Partitions {
  constructor(
    private readonly keys: Int32Array,
    private readonly starts: Int32Array,
  ) {}

  min(): number {
    let d = 0;
    while (this.starts[d + 1] === this.starts[d]) d++;
    return this.extreme(d, -1);
  }

  max(): number {
    let d = 0xffff;
    while (this.starts[d + 1] === this.starts[d]) d--;
    return this.extreme(d, 1);
  }

  /** The largest value ≤ t (−Infinity when there is none). */
  largestAtMost(t: number): number {
    const home = this.partitionOf(t);
    let best = Number.NEGATIVE_INFINITY;
    for (let i = this.starts[home]!; i < this.starts[home + 1]!; i++) {
      const x = keyValue(this.keys[i]!);
      if (x <= t && x > best) best = x;
    }
    for (let d = home - 1; best === Number.NEGATIVE_INFINITY && d >= 0; d--)
      if (this.starts[d + 1]! > this.starts[d]!) best = this.extreme(d, 1);
    return best;
  }

  /** The smallest value > t (Infinity when there is none). */
  smallestAbove(t: number): number {
    const home = this.partitionOf(t);
    let best = Number.POSITIVE_INFINITY;
    for (let i = this.starts[home]!; i < this.starts[home + 1]!; i++) {
      const x = keyValue(this.keys[i]!);
      if (x > t && x < best) best = x;
    }
    for (let d = home + 1; best === Number.POSITIVE_INFINITY && d <= 0xffff; d++)
      if (this.starts[d + 1]! > this.starts[d]!) best = this.extreme(d, -1);
    return best;
  }

  /**
   * The partition of float32(t): values of partitions below it are below float32(t), and so ≤ t (the float32
   * nearest t leaves no float32 strictly between t and it); those of partitions above are > t likewise.
   */
  private partitionOf(t: number): number {
    return keyOf(t) >>> 16;
  }

  /** The largest (sign 1) or smallest (−1) value of partition d. */
  private extreme(d: number, sign: number): number {
    let best = sign * Number.NEGATIVE_INFINITY;
    for (let i = this.starts[d]!; i < this.starts[d + 1]!; i++) {
      const x = keyValue(this.keys[i]!);
      if (sign * x > sign * best) best = x;
    }
    return best;
  }
}

/**
 * Distinct values among sort keys partitioned by their high 16 bits (partition d at starts[d] …
 * starts[d + 1]): per partition, the distinct low halves. −0 and +0 count once.
 */
export function countDistinctKeys(keys: Int32Array, starts: Int32Array): number {
  // seen[low] = 1 + the last partition that held a key with this low half.
  const seen = new Int32Array(0x10000);
  let distinct = 0;
  for (let d = 0; d < 0x10000; d++)
    if (starts[d + 1]! > starts[d]!) distinct += countNew(keys, starts[d]!, starts[d + 1]!, seen, d + 1);
  const has = (key: number) => {
    const d = key >>> 16;
    for (let i = starts[d]!; i < starts[d + 1]!; i++) if (keys[i] === key) return true;
    return false;
  };
  return has(0x7fffffff) && has(0x80000000 | 0) ? distinct - 1 : distinct;
}

/** The low halves of keys[from..to) not yet marked `mark` in `seen`, marking them. */
function countNew(keys: Int32Array, from: number, to: number, seen: Int32Array, mark: number): number {
  let fresh = 0;
  for (let i = from; i < to; i++) {
    const low = keys[i]! & 0xffff;
    fresh += seen[low] === mark ? 0 : 1;
    seen[low] = mark;
  }
  return fresh;
}
