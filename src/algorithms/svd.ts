/**
 * Truncated SVD of weight matrices for the lowrank pass, in float64 and pure JS (no TF.js, so the result is
 * the same bytes on every backend and a lowrank step needs no engine).
 *
 * W (m×n) is factored through the Gram matrix of its smaller side: for n ≤ m, WᵀW = V·S²·Vᵀ (n×n), and
 * for m < n, WWᵀ = U·S²·Uᵀ (m×m), each by ml-matrix's symmetric eigendecomposition (Householder
 * tridiagonalisation + implicit QL: JAMA's tred2/tql2). This gives every singular value — the energy rule
 * needs the whole spectrum — at a fraction of the cost of a full SVD: on a 1024×1024 matrix, 2–3x faster
 * than ml-matrix's Golub–Kahan SVD (8–18 s against 25–55 s on this project's shared 2-core machines), and
 * 784×300 (LeNet-300-100's fc_1) in ~0.4 s against ~2.4 s. A randomized SVD (Halko et al. 2011) with its
 * products on TF.js is another 5–6x faster at 1024×1024 for rank 128, but only approximates the top
 * singular values (4–5% more squared error than the optimum there) and gives no spectrum to apply the
 * energy rule to; `npm run bench` prints the three side by side. It is the way to go for layers much
 * larger than this project's (the Gram route's cost grows as min(m, n)³).
 * Squaring W squares its condition number, so a singular value below ~1e-8·σ₁ is only known to be that
 * small; such directions carry ≤ 1e-16 of the energy and are exactly the ones a truncation drops.
 *
 * The rank-r factors never divide by a small singular value: W_r = W·V_r·V_rᵀ (or U_r·U_rᵀ·W), split
 * evenly as A = W·V_r·S_r^{-1/2} (m×r) and B = S_r^{1/2}·V_rᵀ (r×n) (A = W V_r S^{-1/2} = U_r S^{1/2}), so
 * both factors have the same scale (the product is the same whichever way S is split; a balanced split
 * keeps the two layers' weights, and the gradients a finetune gives them, of comparable size).
 * ‖W − W_r‖²_F = Σ_{i>r} σ_i² (Eckart–Young): the error is exactly the energy discarded.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export interface Spectrum {
  m: number;
  n: number;
  /** σ_i², descending; min(m, n) of them (rounding below 0 is clamped to 0). */
  energies: Float64Array;
  /**
   * Orthonormal singular vectors of the smaller side, k×k row-major (k = min(m, n)), column i for energies[i]:
   * V (right singular vectors) when side is 'right' (n ≤ m), U (left) when 'left'.
   */
  vectors: Float64Array;
  side: 'right' | 'left';
  /** ‖W‖²_F, summed from W itself. */
  total: number;
}

/** The singular values (squared) and singular vectors of the smaller side of W (m×n, row-major). */
export function spectrum(w: ArrayLike<number>, m: number, n: number): Spectrum {
  if (w.length !== m * n) throw new Error(`spectrum: ${w.length} values for a ${m}×${n} matrix`);
  const x = Float64Array.from(w);
  let total = 0;
  for (let i = 0; i < x.length; i++) total += x[i]! * x[i]!;
  const side = n <= m ? 'right' : 'left';
  const k = Math.min(m, n);
  const g = new Float64Array(k * k);
  if (side === 'right') {
    // WᵀW, one row of W at a time (contiguous inner loop); the upper triangle, then mirrored.
    for (let i = 0; i < m; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) {
        const a = x[row + j]!;
        if (a === 0) continue;
        const gj = j * n;
        for (let c = j; c < n; c++) g[gj + c]! += a * x[row + c]!;
      }
    }
  } else {
    // WWᵀ: dot products of rows.
    for (let i = 0; i < m; i++) {
      for (let j = i; j < m; j++) {
        let s = 0;
        const a = i * n;
        const b = j * n;
        for (let c = 0; c < n; c++) s += x[a + c]! * x[b + c]!;
        g[i * k + j] = s;
      }
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i]!;
  const evd = new EigenvalueDecomposition(Matrix.from1DArray(k, k, g), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vecs = evd.eigenvectorMatrix;
  // Descending by eigenvalue; ties keep the decomposition's order, so the result is deterministic.
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
  const energies = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    const src = order[c]!;
    energies[c] = Math.max(0, values[src]!);
    for (let r = 0; r < k; r++) vectors[r * k + c] = vecs.get(r, src);
  }
  return { m, n, energies, vectors, side, total };
}

/** Σ_{i>r} σ_i²: the squared Frobenius error of the best rank-r approximation. */
export function discardedEnergy(s: Spectrum, r: number): number {
  let d = 0;
  for (let i = r; i < s.energies.length; i++) d += s.energies[i]!;
  return d;
}

/** Σ_{i≤r} σ_i² / Σ σ_i²: the fraction of the energy a rank-r approximation keeps (1 for a zero matrix). */
export function keptEnergyFraction(s: Spectrum, r: number): number {
  let all = 0;
  let kept = 0;
  for (let i = 0; i < s.energies.length; i++) {
    all += s.energies[i]!;
    if (i < r) kept += s.energies[i]!;
  }
  return all > 0 ? kept / all : 1;
}

export interface Factors {
  /** m×r, row-major: W·V_r·S_r^{-1/2}. */
  a: Float32Array;
  /** r×n, row-major: S_r^{1/2}·V_rᵀ. */
  b: Float32Array;
  r: number;
}

/**
 * The rank-r factors A (m×r) and B (r×n) of W with A·B = W_r, the best rank-r approximation. Directions
 * whose singular value is numerically zero (σ² ≤ 1e-14·σ₁² · k) get zero columns/rows: W has no energy there.
 */
export function lowRankFactors(w: ArrayLike<number>, s: Spectrum, r: number): Factors {
  const { m, n } = s;
  const k = Math.min(m, n);
  if (!Number.isInteger(r) || r < 1 || r > k) throw new Error(`lowRankFactors: rank ${r} outside 1..${k}`);
  const floor = (s.energies[0] ?? 0) * 1e-14 * k;
  const root = new Float64Array(r); // σ_i^{1/2}, or 0 for a null direction
  for (let i = 0; i < r; i++) {
    const e = s.energies[i]!;
    root[i] = e > floor ? Math.sqrt(Math.sqrt(e)) : 0;
  }
  const v = s.vectors;
  const a = new Float32Array(m * r);
  const b = new Float32Array(r * n);
  const x = Float64Array.from(w);
  if (s.side === 'right') {
    // A = W·V_r·S^{-1/2}: each row of W times the first r columns of V.
    const acc = new Float64Array(r);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let j = 0; j < n; j++) {
        const wij = x[i * n + j]!;
        if (wij === 0) continue;
        const vj = j * k;
        for (let c = 0; c < r; c++) acc[c]! += wij * v[vj + c]!;
      }
      for (let c = 0; c < r; c++) a[i * r + c] = root[c]! > 0 ? acc[c]! / root[c]! : 0;
    }
    // B = S^{1/2}·V_rᵀ.
    for (let c = 0; c < r; c++) for (let j = 0; j < n; j++) b[c * n + j] = root[c]! * v[j * k + c]!;
  } else {
    // A = U_r·S^{1/2}.
    for (let i = 0; i < m; i++) for (let c = 0; c < r; c++) a[i * r + c] = root[c]! * v[i * k + c]!;
    // B = S^{-1/2}·U_rᵀ·W: row c is Σ_i U[i, c]·W[i, :].
    const acc = new Float64Array(n);
    for (let c = 0; c < r; c++) {
      acc.fill(0);
      if (root[c]! > 0) {
        for (let i = 0; i < m; i++) {
          const u = v[i * k + c]!;
          const row = i * n;
          for (let j = 0; j < n; j++) acc[j]! += u * x[row + j]!;
        }
      }
      for (let j = 0; j < n; j++) b[c * n + j] = root[c]! > 0 ? acc[j]! / root[c]! : 0;
    }
  }
  return { a, b, r };
}

/** ‖W − A·B‖²_F in float64, for the stored (float32) factors. */
export function reconstructionError(w: ArrayLike<number>, f: Factors, m: number, n: number): number {
  const { a, b, r } = f;
  let err = 0;
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let c = 0; c < r; c++) {
      const aic = a[i * r + c]!;
      if (aic === 0) continue;
      const bc = c * n;
      for (let j = 0; j < n; j++) row[j]! += aic * b[bc + j]!;
    }
    for (let j = 0; j < n; j++) {
      const d = w[i * n + j]! - row[j]!;
      err += d * d;
    }
  }
  return err;
}

// ---------------------------------------------------------------------------------------------------------
// Rank selection

/** Exactly one of: a fixed rank, the fraction of the layer's parameters kept, the fraction of energy kept. */
export type RankRule = { rank: number } | { ratio: number } | { energy: number };

export type RankChoice =
  { rank: number; paramsBefore: number; paramsAfter: number } | { skip: string; rank?: number; paramsBefore: number };

/**
 * The rank for an m×n kernel (plus `bias` bias values, unchanged by the decomposition) under `rule`, or why
 * the layer is left alone. The factorisation is only worth it when it stores fewer values (and so does fewer
 * multiply-adds): r·(m + n) < m·n, i.e. r ≤ maxUsefulRank(m, n).
 *  - rank: as given; must be below min(m, n) (the caller reports that as an error, not a skip).
 *  - ratio: the largest r whose layer (kernel factors + bias) keeps at most `ratio` of the layer's
 *    parameters: r·(m + n) + bias ≤ ratio·(m·n + bias).
 *  - energy: the smallest r with Σ_{i≤r} σ_i² ≥ energy·Σ σ_i² (needs the spectrum's energies).
 */
export function chooseRank(
  rule: RankRule,
  m: number,
  n: number,
  bias: number,
  energies?: ArrayLike<number>,
): RankChoice {
  const paramsBefore = m * n + bias;
  const max = maxUsefulRank(m, n);
  const after = (r: number) => r * (m + n) + bias;
  let r: number;
  if ('rank' in rule) {
    r = rule.rank;
  } else if ('ratio' in rule) {
    r = Math.floor((rule.ratio * paramsBefore - bias) / (m + n));
    if (r < 1) {
      return {
        skip: `ratio ${rule.ratio} allows ${Math.floor(rule.ratio * paramsBefore)} of its ${paramsBefore} parameters, fewer than rank 1 needs (${after(1)})`,
        paramsBefore,
      };
    }
  } else {
    if (!energies) throw new Error('chooseRank: the energy rule needs the spectrum');
    let all = 0;
    for (let i = 0; i < energies.length; i++) all += energies[i]!;
    let kept = 0;
    r = 0;
    // The relative slack absorbs rounding when a prefix holds exactly the asked fraction.
    while (r < energies.length && !(kept >= rule.energy * all * (1 - 1e-12))) kept += energies[r++]!;
    r = Math.max(1, r);
  }
  if (r > max) {
    const why =
      'rank' in rule ? `rank ${r}` : 'energy' in rule ? `energy ${rule.energy} needs rank ${r}, which` : `rank ${r}`;
    return {
      skip: `${why} would store ${after(r)} parameters, not fewer than the ${paramsBefore} it has (ranks up to ${max} reduce a ${m}×${n} kernel)`,
      rank: r,
      paramsBefore,
    };
  }
  return { rank: r, paramsBefore, paramsAfter: after(r) };
}

/** The largest r with r·(m + n) < m·n (0 when even rank 1 saves nothing). */
export function maxUsefulRank(m: number, n: number): number {
  return Math.floor((m * n - 1) / (m + n));
}
