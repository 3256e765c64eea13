/**
 * Significance tests of paired outcomes (src/algorithms/significance/) against published numbers and hand
 * computations. Sources of the reference numbers are given next to each; values marked "SciPy" were
 * cross-checked with SciPy 1.17 (scipy.stats.binomtest / chi2.sf) and Python's math.erfc.
 */
import { describe, expect, it } from 'vitest';
import {
  chiSquare1Sf,
  EXACT_LIMIT,
  erfc,
  mcnemar,
  mcnemarFromCounts,
  pairedBootstrap,
} from '../../src/algorithms/significance/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { outcomes } from './paired-outcomes.js';

/** Log-space binomial sums are exact up to the last few bits. */
function expectRel(got: number | null, want: number): void {
  expect(relErr(got!, want)).toBeLessThan(1e-12);
}

function relErr(got: number, want: number): number {
  return Math.abs(got - want) / Math.abs(want);
}

describe('erfc', () => {
  // Reference values: Python math.erfc (correctly rounded libm), e.g. erfc(1) = 0.15729920705028513.
  const known: [number, number][] = [
    [0, 1],
    [0.1, 0.8875370839817152],
    [0.5, 0.4795001221869535],
    [1, 0.15729920705028513],
    [1.5, 0.033894853524689274],
    [2, 0.004677734981047266],
    [3, 2.209049699858544e-5],
    [5, 1.5374597944280351e-12],
    [10, 2.088487583762545e-45],
    [26, 5.663192408856143e-296],
    [-1, 1.842700792949715],
  ];
  it.each(known)('erfc(%d) matches the reference to 1e-12 relative', (x, want) => {
    expect(relErr(erfc(x), want)).toBeLessThan(1e-12);
  });

  it('has derivative −2/√π·e^(−x²) on both branches (series below 2, continued fraction above)', () => {
    for (const x of [0.3, 1.2, 1.99, 2.01, 2.7, 4, 6]) {
      const h = 1e-5 * Math.max(1, x);
      const numeric = (erfc(x + h) - erfc(x - h)) / (2 * h);
      const exact = (-2 / Math.sqrt(Math.PI)) * Math.exp(-x * x);
      expect(relErr(numeric, exact)).toBeLessThan(1e-6);
    }
  });

  it('is continuous where the method switches at x = 2', () => {
    expect(relErr(erfc(2 - 1e-13), erfc(2 + 1e-13))).toBeLessThan(1e-11);
  });
});

describe('chiSquare1Sf', () => {
  it('gives the upper tail of χ²(1) at its textbook critical values', () => {
    // χ²₁ critical values 2.706, 3.841, 6.635, 10.828 (any χ² table), to full precision from SciPy chi2.isf.
    expectRel(chiSquare1Sf(2.70554345409542), 0.1);
    expectRel(chiSquare1Sf(3.8414588206941285), 0.05);
    expectRel(chiSquare1Sf(6.634896601021217), 0.01);
    expectRel(chiSquare1Sf(10.827566170662733), 0.001);
    expect(chiSquare1Sf(0)).toBe(1);
    expect(chiSquare1Sf(-1)).toBe(1);
  });
});

describe('mcnemar', () => {
  it("Wikipedia's McNemar's test example (b = 121, c = 59): χ² = 21.35 uncorrected, 20.672222 corrected", () => {
    // Wikipedia, "McNemar's test", first example: 314 patients, table [[101, 121], [59, 33]]; "the McNemar test
    // statistic (121 − 59)²/(121 + 59) has the value 21.35". With Yates' correction: G. Cardillo, "McNemar test"
    // (MATLAB File Exchange 15472, github.com/dnafinder/mcnemar) on the same table: "McNemar chi-square (with
    // Yates'es correction) = 20.672222 p = 0.000005". Exact two-sided p 4.4344492637551645e-06 and χ²
    // p-values 3.8151358651125945e-06 / 5.450094825427117e-06: SciPy.
    const { base, res } = outcomes(101, 121, 59, 33);
    const m = mcnemar(base, res);
    expect(m.n).toBe(314);
    expect([m.b, m.c]).toEqual([121, 59]);
    expect(Math.abs(m.chiSquareUncorrected - 21.35)).toBeLessThan(0.01); // Wikipedia prints 2 decimals
    expect(m.chiSquareUncorrected).toBeCloseTo(62 ** 2 / 180, 12);
    expect(m.chiSquare).toBeCloseTo(20.672222, 6);
    expect(Math.abs(m.chiSquarePValue - 0.000005)).toBeLessThan(5e-7); // Cardillo's rounding
    expect(relErr(m.chiSquarePValue, 5.450094825427117e-6)).toBeLessThan(1e-9);
    expect(relErr(m.chiSquareUncorrectedPValue, 3.8151358651125945e-6)).toBeLessThan(1e-9);
    expect(m.method).toBe('exact');
    expect(relErr(m.exactPValue!, 4.4344492637551645e-6)).toBeLessThan(1e-9);
    expect(m.pValue).toBe(m.exactPValue);
    expect(relErr(m.pWorse, 2.2172246318775823e-6)).toBeLessThan(1e-9); // half the exact two-sided p
    expect(m.pBetter).toBeGreaterThan(0.99999);
  });

  it('small-sample exact example of Fagerland, Lydersen & Laake (AHR before/after SCT, n12 = 1, n21 = 7)', () => {
    // Fagerland MW, Lydersen S, Laake P (2013), "The McNemar test for binary matched-pairs data: mid-p and
    // asymptotic are better than exact conditional", BMC Med Res Methodol 13:91, Table 1 (Bentur et al., 21
    // children: 1 / 1 / 7 / 12) and its supplement "How to calculate the McNemar mid-p test":
    // exact p = 2·binomcdf(1, 8, 0.5) = 2·9/256 = 0.0703125 (reported 0.070); asymptotic (uncorrected)
    // χ² = (1 − 7)²/8 = 4.5, p = erfc(1.5) = 0.0339 (reported 0.034).
    const { base, res } = outcomes(1, 1, 7, 12);
    const m = mcnemar(base, res);
    expect([m.b, m.c]).toEqual([1, 7]);
    expect(m.exactPValue).toBeCloseTo(0.0703125, 14);
    expect(m.chiSquareUncorrected).toBeCloseTo(4.5, 14);
    expect(m.chiSquareUncorrectedPValue).toBeCloseTo(0.033894853524689274, 12);
    expect(m.chiSquare).toBeCloseTo(25 / 8, 14); // (6 − 1)²/8
    expect(m.chiSquarePValue).toBeCloseTo(0.07709987174354202, 12); // SciPy chi2.sf(3.125, 1)
    expect(m.pWorse).toBeCloseTo(255 / 256, 14); // P(X ≥ 1), X ~ Bin(8, ½)
    expect(m.pBetter).toBeCloseTo(9 / 256, 14); // P(X ≥ 7)
  });

  it('matches the calcugator chi2_mcnemar example (b = 11, c = 3): two-tailed 0.057373046875, one-tailed 0.0286865234375', () => {
    // calcugator.com tutorial, chi2_mcnemar: 20 teenagers, M = (1, 11; 3, 5): "Two-tails probability:
    // 0.05737304687500008 … One-tail probability: 0.02868652343750004". By hand: 2·(1 + 14 + 91 + 364)/2¹⁴.
    const m = mcnemarFromCounts(11, 3, 20);
    expect(m.exactPValue).toBeCloseTo(0.057373046875, 14);
    expect(m.pWorse).toBeCloseTo(0.0286865234375, 14);
    expectRel(m.exactPValue, (2 * (1 + 14 + 91 + 364)) / 16384);
  });

  it('matches stat-tools.xyz (b = 12, c = 5): χ²cc 2.1176, p 0.1456, exact 0.1435', () => {
    // stat-tools.xyz/mcnemar?b=12&c=5: "Chi-square (cc): 2.1176, p (chi-square): 0.1456, p (exact): 0.1435".
    const m = mcnemarFromCounts(12, 5);
    expect(m.chiSquare).toBeCloseTo(2.1176, 4);
    expect(m.chiSquarePValue).toBeCloseTo(0.1456, 4);
    expect(m.exactPValue).toBeCloseTo(0.1435, 4);
    expect(m.exactPValue).toBeCloseTo(0.143463134765625, 14); // SciPy binomtest(5, 17)
  });

  it('hand-computed exact binomial tails', () => {
    // b = 1, c = 9: two-sided 2·(C(10,0) + C(10,1))/2¹⁰ = 2·11/1024.
    const m = mcnemarFromCounts(1, 9);
    expectRel(m.exactPValue, 0.021484375);
    expectRel(m.pBetter, 11 / 1024);
    expectRel(m.pWorse, 1 - 1 / 1024);
    const w = mcnemarFromCounts(9, 1);
    expectRel(w.exactPValue, 0.021484375);
    expectRel(w.pWorse, 11 / 1024);
    // b = 0, c = 5: 2·1/32.
    expectRel(mcnemarFromCounts(0, 5).exactPValue, 1 / 16);
    expectRel(mcnemarFromCounts(0, 5).pWorse, 1);
  });

  it('agrees with SciPy for a large exact case (b = 4000, c = 4200)', () => {
    const m = mcnemarFromCounts(4000, 4200);
    expect(relErr(m.exactPValue!, 0.027972423571324654)).toBeLessThan(1e-9);
    expect(relErr(m.pWorse, 0.9867825454540818)).toBeLessThan(1e-9);
    expect(relErr(m.chiSquarePValue, 0.0279785241560027)).toBeLessThan(1e-9);
  });

  it('no discordant pairs, or equal counts, give p = 1 (the correction never goes below 0)', () => {
    const same = new Uint8Array([1, 0, 1, 1, 0]);
    const m = mcnemar(same, same.slice());
    expect(m).toMatchObject({
      b: 0,
      c: 0,
      exactPValue: 1,
      chiSquare: 0,
      chiSquarePValue: 1,
      pValue: 1,
      pWorse: 1,
      pBetter: 1,
    });
    const eq = mcnemarFromCounts(7, 7);
    expect(eq.exactPValue).toBe(1);
    expect(eq.chiSquare).toBe(0);
    expect(eq.chiSquarePValue).toBe(1);
    expect(eq.pWorse).toBeGreaterThan(0.5);
    expect(eq.pWorse).toBeLessThan(1);
  });

  it('uses the chi-square p beyond the exact limit, and the two agree near it', () => {
    const half = EXACT_LIMIT / 2;
    const inside = mcnemarFromCounts(half + 60, half - 60);
    const outside = mcnemarFromCounts(half + 61, half - 60);
    expect(inside.method).toBe('exact');
    expect(outside.method).toBe('chi-square');
    expect(outside.exactPValue).toBeNull();
    expect(outside.pValue).toBe(outside.chiSquarePValue);
    expect(relErr(inside.exactPValue!, inside.chiSquarePValue)).toBeLessThan(0.01);
    expect(relErr(outside.pValue, inside.pValue)).toBeLessThan(0.1);
    expect(outside.pWorse).toBeCloseTo(outside.pValue / 2, 3);
  });

  it('throws a plain Error on a length mismatch', () => {
    expect(() => mcnemar(new Uint8Array(3), new Uint8Array(4))).toThrow(/3 baseline outcomes but 4 result/);
  });
});

describe('pairedBootstrap', () => {
  it('is deterministic for a seed and changes with it', () => {
    const { base, res } = outcomes(800, 60, 40, 100);
    const a = pairedBootstrap(base, res, { samples: 2000, seed: 7 });
    const b = pairedBootstrap(base, res, { samples: 2000, seed: 7 });
    const c = pairedBootstrap(base, res, { samples: 2000, seed: 8 });
    expect(a).toEqual(b);
    expect(c.interval).not.toEqual(a.interval);
    expect(a).toMatchObject({ difference: -20 / 1000, level: 0.95, samples: 2000 });
  });

  it('contains the observed difference', () => {
    for (const [b, c] of [
      [60, 40],
      [5, 30],
      [1, 0],
    ] as const) {
      const { base, res } = outcomes(500, b, c, 50);
      const r = pairedBootstrap(base, res, { samples: 3000, seed: 3 });
      expect(r.interval[0]).toBeLessThanOrEqual(r.difference);
      expect(r.interval[1]).toBeGreaterThanOrEqual(r.difference);
      expect(r.interval[0]).toBeLessThan(r.interval[1]);
    }
  });

  it('all-identical outcomes give [0, 0]', () => {
    const same = new Uint8Array([1, 1, 0, 1, 0, 0, 1]);
    expect(pairedBootstrap(same, same.slice(), { seed: 1 })).toEqual({
      difference: 0,
      interval: [0, 0],
      level: 0.95,
      samples: 10_000,
    });
  });

  it('width shrinks like 1/√n (n vs 4n)', () => {
    const small = outcomes(1500, 200, 120, 180); // n = 2000
    const large = outcomes(6000, 800, 480, 720); // n = 8000, same proportions
    const w = (r: { interval: [number, number] }) => r.interval[1] - r.interval[0];
    const ratio =
      w(pairedBootstrap(small.base, small.res, { seed: 11 })) / w(pairedBootstrap(large.base, large.res, { seed: 11 }));
    expect(ratio).toBeGreaterThan(1.7);
    expect(ratio).toBeLessThan(2.3);
  });

  it('matches the normal approximation ±1.96·SE of the paired difference for a large case', () => {
    const n = 100_000;
    const b = 3000;
    const c = 2000;
    const { base, res } = outcomes(n - b - c - 5000, b, c, 5000);
    const r = pairedBootstrap(base, res, { seed: 5 });
    const d = (c - b) / n;
    // Var of the per-sample difference (values −1, 0, +1): (b + c)/n − d².
    const se = Math.sqrt((b + c) / n - d * d) / Math.sqrt(n);
    const half = 1.96 * se;
    expect(r.difference).toBe(d);
    expect(Math.abs(d - r.interval[0] - half)).toBeLessThan(0.1 * half);
    expect(Math.abs(r.interval[1] - d - half)).toBeLessThan(0.1 * half);
  });

  it('has the distribution of naive index resampling (the multinomial shortcut is exact)', () => {
    const { base, res } = outcomes(300, 30, 20, 50); // n = 400
    const n = base.length;
    const samples = 20_000;
    const rnd = mulberry32(1234);
    const diffs = new Float64Array(samples);
    for (let s = 0; s < samples; s++) {
      let diff = 0;
      for (let i = 0; i < n; i++) {
        const j = Math.floor(rnd() * n);
        diff += res[j]! - base[j]!;
      }
      diffs[s] = diff / n;
    }
    diffs.sort();
    const q = (p: number) => {
      const h = (samples - 1) * p;
      const lo = Math.floor(h);
      return diffs[lo]! + (h - lo) * (diffs[Math.min(samples - 1, lo + 1)]! - diffs[lo]!);
    };
    for (const level of [0.95, 0.5]) {
      const r = pairedBootstrap(base, res, { samples, level, seed: 77 });
      const alpha = 1 - level;
      expect(Math.abs(r.interval[0] - q(alpha / 2))).toBeLessThanOrEqual(2 / n + 1e-12);
      expect(Math.abs(r.interval[1] - q(1 - alpha / 2))).toBeLessThanOrEqual(2 / n + 1e-12);
    }
  });

  it('rejects bad options and mismatched lengths', () => {
    const x = new Uint8Array(4);
    expect(() => pairedBootstrap(x, new Uint8Array(5))).toThrow(Error);
    expect(() => pairedBootstrap(x, x, { level: 1 })).toThrow(/level/);
    expect(() => pairedBootstrap(x, x, { samples: 0 })).toThrow(/samples/);
  });
});
