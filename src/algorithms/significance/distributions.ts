/** The distributions behind the significance tests: erfc and χ²(1), log-factorials, binomial tails. */

/**
 * Complementary error function, relative error ~1e-15 over the whole line (far below the 1e-7 needed). For
 * |x| < 2 the positive-term series erf(x) = 2/√π · e^(−x²) · Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)) (no cancellation
 * inside the sum; 1 − erf loses at most ~2.5 digits at x = 2); for x ≥ 2 the Laplace continued fraction
 * erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) by the modified Lentz method; erfc(−x) = 2 − erfc(x).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27) return 0; // below the smallest double
  // Continued fraction x + K_{k≥1} (k/2)/x, evaluated as f = 1/(x + a1/(x + a2/(x + …))).
  const tiny = 1e-300;
  let f = x;
  let C = f;
  let D = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    D = x + a * D;
    if (Math.abs(D) < tiny) D = tiny;
    C = x + a / C;
    if (Math.abs(C) < tiny) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** P(χ²₁ ≥ x). */
export function chiSquare1Sf(x: number): number {
  if (!(x > 0)) return 1;
  return erfc(Math.sqrt(x / 2));
}

const LOG_FACT_TABLE = (() => {
  const t = new Float64Array(256);
  for (let i = 2; i < 256; i++) t[i] = t[i - 1]! + Math.log(i);
  return t;
})();

/** ln(k!) for integer k ≥ 0: a table below 256, Stirling's series above (error < 1e-17 relative there). */
export function logFactorial(k: number): number {
  if (k < 256) return LOG_FACT_TABLE[k]!;
  const inv = 1 / k;
  const inv2 = inv * inv;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/** P(X ≤ m) for X ~ Binomial(n, ½), summed in log space from the tail term inward. */
export function binomialHalfCdf(m: number, n: number): number {
  if (m < 0) return 0;
  if (m >= n) return 1;
  if (2 * m >= n) return 1 - binomialHalfCdf(n - m - 1, n); // P(X ≤ m) = 1 − P(X ≥ m+1) = 1 − P(X ≤ n−m−1)
  // m < n/2: terms decrease going down from m (ratio k/(n−k+1) < 1), so Σ pmf(k)/pmf(m) ∈ [1, m+1].
  let ratio = 1;
  let sum = 1;
  for (let k = m; k > 0; k--) {
    ratio *= k / (n - k + 1);
    sum += ratio;
    if (ratio < sum * 1e-17) break;
  }
  const logPm = logFactorial(n) - logFactorial(m) - logFactorial(n - m) - n * Math.LN2;
  return Math.exp(logPm + Math.log(sum));
}
