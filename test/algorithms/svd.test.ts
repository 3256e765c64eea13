/**
 * Truncated SVD and rank selection (src/algorithms/svd.ts) against ml-matrix's full Golub–Kahan SVD, an
 * independent reference, on tall, wide and rank-deficient matrices.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  chooseRank,
  discardedEnergy,
  keptEnergyFraction,
  lowRankFactors,
  maxUsefulRank,
  reconstructionError,
  spectrum,
} from '../../src/algorithms/svd.js';
import { mulberry32 } from '../../src/util/random.js';

/** A seeded m×n matrix of bell-shaped values (sum of uniforms), like an untrained kernel. */
function bell(m: number, n: number, seed: number, scale = 0.1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: m * n }, () => (random() + random() + random() + random() - 2) * scale);
}

/** P (m×k) · Q (k×n) of bell-shaped factors: a random matrix of rank k (almost surely). */
function ofRank(m: number, n: number, k: number, seed: number): Float32Array {
  const p = bell(m, k, seed, 1);
  const q = bell(k, n, seed + 1, 1);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let c = 0; c < k; c++) for (let j = 0; j < n; j++) out[i * n + j]! += p[i * k + c]! * q[c * n + j]!;
  return out;
}

/** Singular values from ml-matrix's full (Golub–Kahan) SVD: an independent reference. */
function referenceSingularValues(w: Float32Array, m: number, n: number): number[] {
  const rows = Array.from({ length: m }, (_, i) => Array.from(w.subarray(i * n, (i + 1) * n)));
  return new SingularValueDecomposition(new Matrix(rows), { autoTranspose: true }).diagonal;
}

describe('truncated SVD', () => {
  it('finds the singular values of a full SVD, on tall and wide matrices', () => {
    for (const [m, n, seed] of [
      [120, 40, 1],
      [30, 90, 2],
    ] as const) {
      const w = bell(m, n, seed);
      const s = spectrum(w, m, n);
      expect(s.side).toBe(n <= m ? 'right' : 'left');
      const ref = referenceSingularValues(w, m, n);
      expect(s.energies).toHaveLength(Math.min(m, n));
      for (let i = 0; i < ref.length; i++)
        expect(Math.abs(Math.sqrt(s.energies[i]!) - ref[i]!)).toBeLessThan(1e-9 * ref[0]!);
      // Σ σ² = ‖W‖²_F
      expect(s.energies.reduce((a, b) => a + b, 0)).toBeCloseTo(s.total, 8);
    }
  });

  it('reconstruction error ‖W − A·B‖²_F equals the discarded energy Σ_{i>r} σ_i² (1e-4 relative) at every kind of rank', () => {
    for (const [m, n, seed] of [
      [200, 60, 3], // tall: through WᵀW
      [50, 150, 4], // wide: through WWᵀ
    ] as const) {
      const w = bell(m, n, seed);
      const s = spectrum(w, m, n);
      const ref = referenceSingularValues(w, m, n);
      for (const r of [1, 5, 17, Math.min(m, n) - 1]) {
        const f = lowRankFactors(w, s, r);
        expect(f.a).toHaveLength(m * r);
        expect(f.b).toHaveLength(r * n);
        const error = reconstructionError(w, f, m, n);
        const discarded = ref.slice(r).reduce((a, x) => a + x * x, 0);
        expect(Math.abs(error - discarded) / discarded).toBeLessThan(1e-4);
        expect(Math.abs(discardedEnergy(s, r) - discarded) / discarded).toBeLessThan(1e-6);
        expect(keptEnergyFraction(s, r)).toBeCloseTo(1 - discarded / s.total, 6);
      }
    }
  });

  it('splits √S evenly between the factors: A and B have the same Frobenius norm', () => {
    const w = bell(80, 30, 5);
    const f = lowRankFactors(w, spectrum(w, 80, 30), 10);
    const norm = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0));
    expect(norm(f.a) / norm(f.b)).toBeCloseTo(1, 5);
  });

  it('reproduces a rank-deficient matrix exactly at its rank, with no blow-up beyond it', () => {
    const [m, n] = [64, 8];
    const w = ofRank(m, n, 7, 6);
    const s = spectrum(w, m, n);
    expect(s.energies[7]! / s.energies[0]!).toBeLessThan(1e-12); // the 8th singular value is (numerically) zero
    const f = lowRankFactors(w, s, 7);
    const total = w.reduce((a, v) => a + v * v, 0);
    expect(reconstructionError(w, f, m, n) / total).toBeLessThan(1e-12);
    // rank 8 = min: the null direction gets zero factors rather than a division by ~0
    const full = lowRankFactors(w, s, 8);
    expect(full.a.every(Number.isFinite) && full.b.every(Number.isFinite)).toBe(true);
    expect(reconstructionError(w, full, m, n) / total).toBeLessThan(1e-12);
  });
});

describe('rank selection', () => {
  it('rank: kept as given when it reduces the kernel, skipped with the limit otherwise', () => {
    expect(chooseRank({ rank: 32 }, 784, 300, 300)).toEqual({
      rank: 32,
      paramsBefore: 235_500,
      paramsAfter: 32 * 1084 + 300,
    });
    expect(maxUsefulRank(784, 300)).toBe(216); // 216·1084 = 234,144 < 235,200 ≤ 217·1084
    expect(chooseRank({ rank: 216 }, 784, 300, 0)).toMatchObject({ rank: 216 });
    expect(chooseRank({ rank: 217 }, 784, 300, 0)).toEqual({
      skip: 'rank 217 would store 235228 parameters, not fewer than the 235200 it has (ranks up to 216 reduce a 784×300 kernel)',
      rank: 217,
      paramsBefore: 235_200,
    });
  });

  it('ratio: the largest rank whose layer (factors + bias) keeps at most that fraction of its parameters', () => {
    for (const [m, n, bias, ratio] of [
      [784, 300, 300, 0.25],
      [300, 100, 100, 0.25],
      [100, 10, 10, 0.25],
      [288, 64, 64, 0.5],
      [1024, 1024, 0, 0.1],
    ] as const) {
      const c = chooseRank({ ratio }, m, n, bias);
      if (!('rank' in c) || 'skip' in c) throw new Error(`skipped ${m}×${n}`);
      const before = m * n + bias;
      expect(c.paramsAfter).toBe(c.rank * (m + n) + bias);
      expect(c.paramsAfter).toBeLessThanOrEqual(ratio * before);
      expect((c.rank + 1) * (m + n) + bias).toBeGreaterThan(ratio * before);
    }
    // LeNet-300-100's fc_1 at a quarter: rank 54 (58,836 of 235,500 parameters)
    expect(chooseRank({ ratio: 0.25 }, 784, 300, 300)).toMatchObject({ rank: 54, paramsAfter: 58_836 });
    expect(chooseRank({ ratio: 0.01 }, 100, 10, 10)).toMatchObject({
      skip: expect.stringMatching(/^ratio 0\.01 allows 10 of its 1010 parameters, fewer than rank 1 needs \(120\)$/),
    });
  });

  it('energy: the smallest rank keeping that fraction of Σσ², from the spectrum', () => {
    const w = bell(300, 100, 7);
    const s = spectrum(w, 300, 100);
    for (const energy of [0.3, 0.5, 0.7]) {
      const c = chooseRank({ energy }, 300, 100, 100, s.energies);
      if (!('rank' in c) || 'skip' in c) throw new Error('skipped');
      expect(keptEnergyFraction(s, c.rank)).toBeGreaterThanOrEqual(energy);
      expect(keptEnergyFraction(s, c.rank - 1)).toBeLessThan(energy);
    }
    // a flat (random) spectrum needs most ranks for 99%: not worth it
    expect(chooseRank({ energy: 0.99 }, 300, 100, 100, s.energies)).toMatchObject({
      skip: expect.stringMatching(
        /^energy 0\.99 needs rank \d+, which would store \d+ parameters, not fewer than the 30100 it has \(ranks up to 74 reduce a 300×100 kernel\)$/,
      ),
    });
    // a rank-3 matrix keeps all its energy at rank 3
    const low = ofRank(40, 20, 3, 8);
    expect(chooseRank({ energy: 0.999999 }, 40, 20, 0, spectrum(low, 40, 20).energies)).toMatchObject({ rank: 3 });
  });
});
