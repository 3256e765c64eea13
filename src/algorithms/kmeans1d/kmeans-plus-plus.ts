import { mulberry32 } from '../../util/random.js';
import type { Sorted } from './types.js';

/**
 * k-means++ (Arthur & Vassilvitskii): the first centre uniformly, each next one with probability
 * proportional to its squared distance to the nearest centre so far. On sorted values a new centre c only
 * lowers the distances of a contiguous run around it (walking outwards, the first value that does not get
 * closer has a centre between it and c, or beyond it, that is nearer for everything further out), and sums
 * of the distances over blocks of √n values make sampling O(√n). Returns at most min(k, distinct values)
 * centres, and the number of distinct values.
 */
export function kmeansPlusPlusInit(
  xs: Sorted,
  k: number,
  seed: number,
  d2: Float64Array,
  checkpoints: Float64Array,
): { centroids: Float64Array; distinct: number } {
  const n = xs.length;
  const random = mulberry32(seed);
  const first = Math.min(n - 1, Math.floor(random() * n));
  const chosen: number[] = [xs[first]!];
  // Sums of d2 over blocks of B consecutive values (B ≈ √n): sampling scans the block sums, then one block.
  const B = Math.max(16, Math.ceil(Math.sqrt(n)));
  const blocks = Math.ceil(n / B);
  const blockSum = new Float64Array(blocks);
  const distinct = initialDistances(xs, d2, blockSum, B, xs[first]!, checkpoints);
  const target = Math.min(k, distinct);
  const resum = (from: number, to: number) => {
    for (let blk = Math.floor(from / B), last = Math.floor(to / B); blk <= last; blk++)
      blockSum[blk] = sumRange(d2, blk * B, Math.min(n, blk * B + B));
  };
  while (chosen.length < target) {
    let total = 0;
    for (let blk = 0; blk < blocks; blk++) total += blockSum[blk]!;
    if (!(total > 0)) break;
    // The first index whose running sum exceeds r.
    let rem = random() * total;
    let blk = 0;
    while (blk < blocks - 1 && !(rem < blockSum[blk]!)) rem -= blockSum[blk++]!;
    let i = blk * B;
    const end = Math.min(n, i + B);
    while (i < end - 1 && !(rem < d2[i]!)) rem -= d2[i++]!;
    if (!(d2[i]! > 0)) i = nearestPositive(d2, i); // rounding landed on a chosen value
    if (i < 0) break;
    const c = xs[i]!;
    chosen.push(c);
    resum(lowerLeft(xs, d2, i, c), lowerRight(xs, d2, i + 1, c));
  }
  return { centroids: Float64Array.from(chosen).sort(), distinct };
}

/**
 * d2[i] = (xs[i] − x0)² and each block's sum of them (in order) into blockSum; returns the number of
 * distinct values (xs is sorted). Fills `checkpoints` as countDistinct does, in the same pass.
 */
function initialDistances(
  xs: Sorted,
  d2: Float64Array,
  blockSum: Float64Array,
  B: number,
  x0: number,
  checkpoints: Float64Array,
): number {
  const n = xs.length;
  let distinct = 1;
  let prev = xs[0]!;
  let total = 0;
  for (let blk = 0; blk * B < n; blk++) {
    let sum = 0;
    for (let i = blk * B, e = Math.min(n, i + B); i < e; i++) {
      const x = xs[i]!;
      distinct += x !== prev ? 1 : 0;
      prev = x;
      if ((i & 15) === 0) checkpoints[i >> 4] = total;
      total += x;
      const d = (x - x0) ** 2;
      d2[i] = d;
      sum += d;
    }
    blockSum[blk] = sum;
  }
  return distinct;
}

function sumRange(d2: Float64Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += d2[i]!;
  return sum;
}

/** Lowers d2 to (xs[j] − c)² from j = i down while that is smaller; returns the lowest j changed (i at least). */
function lowerLeft(xs: Sorted, d2: Float64Array, i: number, c: number): number {
  let lo = i;
  for (let j = i; j >= 0; j--) {
    const d = (xs[j]! - c) ** 2;
    if (!(d < d2[j]!)) break;
    d2[j] = d;
    lo = j;
  }
  return lo;
}

/** Lowers d2 from j = from up while smaller; returns the highest j changed (from − 1 when none). */
function lowerRight(xs: Sorted, d2: Float64Array, from: number, c: number): number {
  let hi = from - 1;
  for (let j = from; j < xs.length; j++) {
    const d = (xs[j]! - c) ** 2;
    if (!(d < d2[j]!)) break;
    d2[j] = d;
    hi = j;
  }
  return hi;
}

function nearestPositive(d2: Float64Array, i: number): number {
  for (let r = 1; r < d2.length; r++) {
    if (i + r < d2.length && d2[i + r]! > 0) return i + r;
    if (i - r >= 0 && d2[i - r]! > 0) return i - r;
  }
  return -1;
}
