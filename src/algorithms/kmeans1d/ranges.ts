import type { Sorted } from './types.js';

/**
 * Sums over ranges of the sorted values: s(e) = xs[0] + … + xs[e−1], added in that order, from the running
 * sum at every 16th index (`checkpoints[e >> 4]`, filled while the values were first read) plus at most 15
 * values; the same for squares on first use (only refill needs them). Exactly the running prefix sums, from an
 * array 16 times smaller than the values.
 */
export class Ranges {
  private squares: Float64Array | undefined;

  constructor(
    readonly xs: Sorted,
    private readonly checkpoints: Float64Array,
  ) {
    const n = xs.length;
    // The checkpoint at n itself, when n is a multiple of 16 (the scan only fills those below n).
    if (n > 0 && (n & 15) === 0) checkpoints[n >> 4] = this.s1(n - 1) + xs[n - 1]!;
  }

  s1(e: number): number {
    const xs = this.xs;
    let sum = this.checkpoints[e >> 4]!;
    for (let i = e & ~15; i < e; i++) sum += xs[i]!;
    return sum;
  }

  s2(e: number): number {
    const xs = this.xs;
    if (!this.squares) {
      const n = xs.length;
      const squares = (this.squares = new Float64Array((n >> 4) + 1));
      let total = 0;
      for (let i = 0; i < n; i++) {
        if ((i & 15) === 0) squares[i >> 4] = total;
        total += xs[i]! * xs[i]!;
      }
      if (n > 0 && (n & 15) === 0) squares[n >> 4] = total;
    }
    let sum = this.squares[e >> 4]!;
    for (let i = e & ~15; i < e; i++) sum += xs[i]! * xs[i]!;
    return sum;
  }
}
