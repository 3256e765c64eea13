/**
 * The gradual pruning schedule of Zhu & Gupta (2017, "To prune, or not to prune"): sparsity rises from an
 * initial to a final value along a polynomial decay, quickly at first while there are many redundant weights,
 * then ever more slowly as fewer remain.
 */

export interface PolynomialSchedule {
  /** Sparsity at step 0. */
  initialSparsity: number;
  /** Steps until the final sparsity is reached (and kept). */
  steps: number;
  /** Exponent of the decay: 3 in the paper. */
  power: number;
}

/** s_t = s_f + (s_i − s_f)(1 − t/S)^power (Zhu & Gupta, 2017). */
export function scheduledSparsity(final: number, s: PolynomialSchedule, t: number): number {
  if (t >= s.steps) return final;
  return final + (s.initialSparsity - final) * (1 - t / s.steps) ** s.power;
}
