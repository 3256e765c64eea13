/** Fitting one kernel's k-means: checks, scratch memory, and the choice between a fit on all values or a sample. */
import {
  compactNonZero,
  countKeyDigits,
  firstNonFinite,
  kmeansOfQuantiles,
  kmeansSorted,
  sortFloat32,
} from '../../algorithms/kmeans1d/index.js';
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import type { OptionsPlace } from '../define.js';
import { written, type ClusterOptions } from './options.js';
import type { KernelFit } from './write.js';

/**
 * Kernels of more values than SAMPLE_ABOVE (not counting zeros kept) are fitted on a sample of SAMPLE of
 * them (fitSample) when they have at most SAMPLE_MAX_CLUSTERS clusters: 8192 sample values per cluster at
 * least (with more clusters per sample value, heavy tails of the weights are fitted worse than on all
 * values). Other kernels are fitted on all values, exactly as version 1 of the pass did.
 */
const SAMPLE_ABOVE = 1 << 20;
const SAMPLE = 1 << 18;
const SAMPLE_MAX_CLUSTERS = 32;

/**
 * Checks one kernel's values and fits its k-means (in `memory`). `place` is where the options were written
 * for errors: the pass entry's, or 'override' for a layer's own options (an override block, whose position
 * resolveOptions recorded), or undefined when unknown.
 */
export function fitKernel(
  name: string,
  layer: string,
  values: Float32Array,
  options: ClusterOptions,
  place: OptionsPlace | 'override' | undefined,
  memory: Memory,
): KernelFit {
  const keep = options.preserveZeros;
  const n = values.length;
  const bits = new Int32Array(values.buffer, values.byteOffset, n);
  // Counts of the sort's two 16-bit digits of every value's key.
  const counts = memory.counts();
  // A kernel that may be fitted on a sample needs the counts of the high digit only.
  const trySample = n > SAMPLE_ABOVE && options.clusters <= SAMPLE_MAX_CLUSTERS;
  const nonZero = countKeyDigits(bits, counts, !trySample);
  if (nonZero < 0) {
    const x = values[firstNonFinite(bits)]!;
    throw new McbError(
      'MCB_MODEL_INVALID',
      `weight ${name} holds ${x}; a model with non-finite weights cannot be clustered. Retrain it or check the steps before the cluster pass.`,
    );
  }
  // The values to cluster: all, or the non-zero ones.
  const count = keep ? nonZero : n;
  if (count < options.clusters) {
    const w = written.get(options);
    const option = w?.option ?? 'clusters';
    const entry =
      typeof place === 'object'
        ? { path: formatDataPath([...place.path, option]), at: place.at(option) }
        : place === undefined
          ? w
          : undefined;
    // For an override, the position of the option itself: the path of its resolved options names the last
    // block that touched the layer, which need not be the one that set `clusters`.
    const by = entry ? ` by \`${entry.path}\` at ${entry.at}` : w ? ` by the override for this layer at ${w.at}` : '';
    const what = keep ? 'non-zero weights' : 'weights';
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `layer ${layer} (weight ${name}) has only ${count} ${what}, fewer than the ${options.clusters} clusters asked for${by}; lower \`clusters\` (or \`bits\`) to at most ${count}${keep ? ', or prune less' : ''}.`,
    );
  }
  // Memory: two buffers of n int32 for the radix sort (one ends up holding the sorted values), then n
  // doubles for the k-means++ distances; a sampled fit needs the two buffers only.
  const prepare = (sampled: boolean) => {
    const region = memory.get((sampled ? 8 : 16) * n);
    const x = new Int32Array(region.buffer, region.byteOffset, n);
    const y = new Int32Array(region.buffer, region.byteOffset + 4 * n, n);
    const z = new Float64Array(region.buffer, region.byteOffset + 8 * n, sampled ? 0 : n);
    let input = bits;
    if (count < n) {
      // x has room for count + 1 values (count < n): compactNonZero writes one past the last.
      compactNonZero(bits, x);
      input = x.subarray(0, count);
      counts.fill(0);
      countKeyDigits(input, counts, !sampled);
    }
    return { x, y, z, input };
  };
  if (trySample && count > SAMPLE_ABOVE) {
    const { y, input } = prepare(true);
    const fit = fitSample(input, y, counts, options);
    if (fit) return { name, layer, nonZero, ...fit };
  }
  if (trySample) {
    // Fit all values after all (too few, or the sample fell short): count both digits.
    counts.fill(0);
    countKeyDigits(bits, counts, true);
  }
  const { x, y, z, input } = prepare(false);
  const xs = sortFloat32(input, x, y, counts);
  const km = kmeansSorted(xs, options.clusters, options, z);
  const min = xs[0]!;
  return {
    name,
    layer,
    centroids: Float32Array.from(km.centroids),
    upper: km.upper,
    lower: km.lower,
    distinct: km.distinct,
    nonZero,
    iterations: km.iterations,
    converged: km.converged,
    min,
    width: xs[xs.length - 1]! - min,
  };
}

/**
 * k-means of a kernel of more than SAMPLE_ABOVE values into at most SAMPLE_MAX_CLUSTERS clusters, fitted on
 * SAMPLE evenly spaced quantiles of them instead of all (kmeansOfQuantiles): sorting millions of values and
 * seeding k-means++ on all of them cost most of the pass, for centroids hardly better than those of a quarter
 * of a million quantiles. Every value then goes to its nearest centroid. Undefined (fit all values) when the
 * sample has fewer distinct values than clusters are needed, or a cluster would be left without values.
 */
function fitSample(
  bits: Int32Array,
  part: Int32Array,
  counts: Int32Array,
  options: ClusterOptions,
): Omit<KernelFit, 'name' | 'layer' | 'nonZero'> | undefined {
  const fit = kmeansOfQuantiles(bits, part, counts, options.clusters, options, SAMPLE);
  if (!fit) return undefined;
  const { upper, lower } = fit;
  return {
    centroids: Float32Array.from(fit.centroids),
    upper,
    lower,
    distinct: fit.distinct,
    iterations: fit.iterations,
    converged: fit.converged,
    min: lower[0]!,
    width: upper[upper.length - 1]! - lower[0]!,
  };
}

/**
 * Scratch memory for one apply(): the output buffer while it is not written yet (its pages are touched anyway;
 * fresh memory costs a page fault per 4 kB page on first use), or a buffer of its own when that is too small,
 * reused from one kernel to the next. A region handed out is valid until the next get().
 */
export class Memory {
  private own: Uint8Array | undefined;
  private digitCounts: Int32Array | undefined;

  constructor(private readonly shared: Uint8Array) {}

  /** `bytes` bytes, 8-byte aligned. */
  get(bytes: number): Uint8Array {
    const skip = (8 - (this.shared.byteOffset % 8)) % 8;
    if (this.shared.byteLength - skip >= bytes) return this.shared.subarray(skip, skip + bytes);
    if (!this.own || this.own.byteLength < bytes) this.own = new Uint8Array(bytes);
    return this.own.subarray(0, bytes);
  }

  /** Zeroed counts of the sort's two 16-bit digits. */
  counts(): Int32Array {
    if (!this.digitCounts) this.digitCounts = new Int32Array(0x20000);
    else this.digitCounts.fill(0);
    return this.digitCounts;
  }
}
