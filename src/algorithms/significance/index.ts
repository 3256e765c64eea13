/**
 * Significance tests of paired outcomes: is a baseline → result accuracy drop real, or noise of a finite test
 * set? Both tests work on paired per-sample outcomes (1 = that sample was classified correctly, any non-zero
 * byte counts as 1), measured on the same samples by the baseline and the result. Pure, engine-free.
 *
 * Only the discordant samples carry information about the difference:
 *   b = baseline right, result wrong      c = baseline wrong, result right
 * so the accuracy difference (result − baseline) is (c − b)/n, and the drop (baseline − result) is (b − c)/n.
 *
 * `mcnemar` — McNemar's test of "both models are equally accurate" (H0: P(b-type) = P(c-type)). Given the
 * b + c discordant samples, b ~ Binomial(b + c, ½) under H0. Reported side by side:
 *   - the exact (conditional binomial) two-sided p = min(1, 2·P(X ≤ min(b, c))), computed in log space, for
 *     b + c ≤ EXACT_LIMIT (10 000); above that it is `null` and the chi-square p is the one used: at that many
 *     discordant pairs the two differ only in the third or fourth significant digit;
 *   - the chi-square statistic with continuity correction (|b − c| − 1)²/(b + c) (the correction is clamped at
 *     0 when b = c so it never makes equal counts look different) and its p-value from χ²(1):
 *     p = erfc(√(x/2));
 *   - the uncorrected statistic (b − c)²/(b + c) and its p, as printed in most textbooks;
 *   - one-sided p-values for "the result is worse" (H1: b-type more likely, P(X ≥ b)) and "the result is
 *     better" (P(X ≥ c)); exact within the limit, else normal with continuity correction.
 * b + c = 0 gives every p = 1.
 *
 * `pairedBootstrap` — percentile bootstrap interval of (result accuracy − baseline accuracy): resample the n
 * sample indices with replacement, recompute the difference, take the (1−level)/2 and (1+level)/2 quantiles
 * (linear interpolation between order statistics, R's type 7). It is done without drawing n indices per
 * resample, and exactly so: a resample's difference depends only on how many of its n draws land on b-type and
 * on c-type samples, and those counts (B, C, rest) are Multinomial(n; b/n, c/n, 1 − (b+c)/n). We draw that
 * multinomial as K = B + C ~ Binomial(n, (b+c)/n), then B | K ~ Binomial(K, b/(b+c)), C = K − B, each binomial
 * by inversion of its distribution function walked outward from the mode (any fixed order of the support gives
 * an exact inverse-CDF sampler; starting at the mode makes the walk O(standard deviation) long). Same
 * distribution as resampling indices, up to floating-point rounding of the pmf, at O(√n) cost per resample and
 * no allocation besides the one array of resampled differences. PRNG: the project's mulberry32, seeded, so a
 * seed always gives the same interval.
 */
export { bootstrapFromCounts, pairedBootstrap, type BootstrapOptions, type BootstrapResult } from './bootstrap.js';
export { chiSquare1Sf, erfc } from './distributions.js';
export { EXACT_LIMIT, mcnemar, mcnemarFromCounts, type McNemarResult } from './mcnemar.js';
export { checkLevel, discordant } from './paired.js';
