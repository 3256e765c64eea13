/**
 * cluster: weight sharing (Han et al., Deep Compression; TF-MOT's weight clustering). The values of each
 * Dense, Conv2D and DepthwiseConv2D kernel are grouped by k-means into K clusters and every weight is
 * replaced by its cluster's centroid, so a kernel holds at most K distinct values (plus 0: weights that are
 * exactly zero — pruned — stay zero and are not clustered unless `preserveZeros: false`). Biases,
 * batch-norm parameters and integer weights are untouched. A later finetune keeps the assignment and
 * trains the centroids (src/passes/constraints.ts, clusterConstraint).
 *
 * k-means on scalars is 1-D, where every cluster of an optimal (and of every Lloyd) assignment is a
 * contiguous range of the sorted values. So the values are sorted once (a radix sort of their bits), and
 * each Lloyd iteration finds the K-1 boundaries between neighbouring centroids by binary search and each
 * centroid as a range mean from prefix sums: O(K log n) per iteration instead of O(nK). k-means++ seeding
 * is close to linear too: sums of the squared distances over blocks of √n values sample the next centre, and
 * a new centre only lowers the distances of a contiguous run of sorted values around it. Writing the
 * centroids back needs no search per value either (writeKernel). The pass is pure JS: no TF.js, no backend.
 *
 * Version 2: a kernel of more than 2^20 values (not counting kept zeros) into at most 32 clusters is fitted
 * on 2^18 evenly spaced quantiles of its values, and each value then goes to its nearest centroid
 * (fitSample): about a sixth less time on large models, with errors within a few per cent of a fit on all
 * values. Other kernels give exactly what version 1 gave.
 *
 * Per-layer overrides (src/plan/layers.ts) give a kernel its layer's clusters / bits, init, iterations, seed
 * and preserveZeros: k-means runs per kernel anyway. A kernel an override skips is passed through like a bias
 * (not clustered, and not recorded in `clusteredWeights`, so a later finetune moves it freely).
 */
import { McbError } from '../../errors.js';
import { alignedView, decodeWeights, encodeWeights, type DecodedWeight } from '../../engine/weights.js';
import { formatDataPath } from '../../recipe/index.js';
import { mulberry32 } from '../../util/random.js';
import { withRecordedWeights } from '../constraints.js';
import { optionsByLayer, type OptionsPlace, type PassDefinition } from '../types.js';

export interface ClusterOptions {
  /** K, the number of clusters per kernel (`bits: b` resolves to 2^b, so both spellings share a cache key). */
  clusters: number;
  init: 'kmeans++' | 'linear';
  iterations: number;
  seed: number;
  preserveZeros: boolean;
}

export interface ClusterLayerStats {
  weight: string;
  layer: string;
  /** Clusters used: K, or fewer when the kernel has fewer distinct values. */
  clusters: number;
  /** Distinct values of the kernel after clustering (the centroids, plus 0 when zeros were kept). */
  distinctValues: number;
  /** Distinct values before. */
  distinctBefore: number;
  zerosKept: number;
  meanSquaredError: number;
  /** Lloyd iterations run (on the sample, for a kernel fitted on one). */
  iterations: number;
  converged: boolean;
}

/** Layer classes whose kernels are clustered, and the name of that kernel. */
const KERNEL_OF: Readonly<Record<string, string>> = {
  Dense: 'kernel',
  Conv2D: 'kernel',
  DepthwiseConv2D: 'depthwise_kernel',
};

/**
 * Where `clusters` / `bits` were written, per resolved options object, for the errors only apply() can see
 * (they depend on the model) when the executor passes no `ctx.place`. A source position must not go into
 * the options themselves: they are hashed into the step key, and moving a line must not invalidate it.
 */
const written = new WeakMap<ClusterOptions, { option: 'clusters' | 'bits'; at: string; path: string }>();

export const cluster: PassDefinition<ClusterOptions> = {
  name: 'cluster',
  version: 2,
  summary: 'k-means weight sharing per kernel: at most K distinct values (Deep Compression)',
  dependsOnBackend: false,
  needs: [],
  // All of them act on one kernel's k-means; `skip` leaves a kernel unclustered.
  perLayer: ['clusters', 'bits', 'init', 'iterations', 'seed', 'preserveZeros'],
  // A block's `bits: 2` replaces the entry's `clusters: 16` (and the other way round) instead of clashing with it.
  exclusiveOptions: [['clusters', 'bits']],

  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    if (raw.clusters !== undefined && raw.bits !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} sets both clusters (${String(raw.clusters)}) and bits (${String(raw.bits)}) at ${place.at('bits')}; keep one of them (bits: b means clusters: 2^b).`,
      );
    }
    if (raw.clusters === undefined && raw.bits === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} needs the number of clusters at ${place.at()}; set \`clusters: K\` (2..65536) or \`bits: b\` (1..16, K = 2^b), e.g. \`- cluster: { bits: 4 }\`.`,
      );
    }
    const option = raw.clusters !== undefined ? 'clusters' : 'bits';
    const value = raw[option];
    const [lo, hi] = option === 'clusters' ? [2, 65536] : [1, 16];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, option])}\` must be an integer from ${lo} to ${hi} (got ${JSON.stringify(value)}) at ${place.at(option)}.`,
      );
    }
    const options: ClusterOptions = {
      clusters: option === 'clusters' ? value : 2 ** value,
      init: (raw.init as ClusterOptions['init'] | undefined) ?? 'kmeans++',
      iterations: (raw.iterations as number | undefined) ?? 30,
      seed: (raw.seed as number | undefined) ?? 1,
      preserveZeros: (raw.preserveZeros as boolean | undefined) ?? true,
    };
    written.set(options, { option, at: place.at(option), path: formatDataPath([...place.path, option]) });
    return options;
  },

  async apply(model, options, ctx) {
    const optionsFor = optionsByLayer(ctx, options);
    const classes = layerClasses(model.json);
    const layers: ClusterLayerStats[] = [];
    let sumSq = 0;
    let clustered = 0;
    // The input's float32 values are only read (views of its bytes). First every kernel's k-means is fitted,
    // with the output buffer as scratch memory (it is written last, and its pages are touched anyway), then
    // each kernel's values are replaced by their centroids straight into the output.
    const weights = decodeWeights(model, { share: true });
    const skippedLayers = new Set<string>();
    const kernels = weights.flatMap((w) => {
      const layer = clusteredLayer(w, classes);
      if (layer === undefined) return [];
      // Each kernel with its layer's options; one an override skips stays as it is, like a bias.
      const named = layerOfWeight(w.spec.name, classes);
      const o = optionsFor(named);
      if (o === null) {
        skippedLayers.add(named);
        return [];
      }
      return [{ w, layer, values: w.values as Float32Array, options: o }];
    });
    const clusteredWeights = new Map(kernels.map((k) => [k.w, k.options]));
    const fits = new Map<DecodedWeight, KernelFit>();
    const fitAll = (scratchBytes: Uint8Array) => {
      const memory = new Memory(scratchBytes);
      for (const { w, layer, values, options: o } of kernels) {
        ctx.progress(`clustering ${w.spec.name}`);
        fits.set(w, fitKernel(w.spec.name, layer, values, o, o === options ? ctx.place : 'override', memory));
      }
    };
    const json = withRecordedWeights(
      model.json,
      'clusteredWeights',
      kernels.map((k) => k.w.spec.name),
    );
    const out = encodeWeights(
      json,
      weights,
      (w) => {
        const o = clusteredWeights.get(w);
        if (o === undefined) return undefined;
        const values = w.values as Float32Array;
        return {
          byteLength: values.byteLength,
          write: (into) => {
            const { view, flush } = alignedView(into, Float32Array, values.length);
            const stats = writeKernel(values, view, fits.get(w)!, o.preserveZeros);
            flush();
            layers.push(stats);
            sumSq += stats.meanSquaredError * values.length;
            clustered += values.length;
            return w.spec;
          },
        };
      },
      fitAll,
    );
    return {
      model: out,
      stats: {
        clusters: options.clusters,
        kernelsClustered: layers.length,
        weightsClustered: clustered,
        meanSquaredError: clustered ? sumSq / clustered : 0,
        layers,
        ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
      },
    };
  },
};

/** Layer name → class name, from a layers model's topology (undefined for a graph model). */
export function layerClasses(json: Record<string, unknown>): Map<string, string> | undefined {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const topology = obj(json.modelTopology);
  if (!topology || Array.isArray(topology.node)) return undefined;
  const out = new Map<string, string>();
  const walk = (layer: unknown): void => {
    const l = obj(layer);
    const config = obj(l?.config);
    if (typeof l?.class_name === 'string' && typeof config?.name === 'string') out.set(config.name, l.class_name);
    const inner = config?.layers ?? l?.layers;
    if (Array.isArray(inner)) inner.forEach(walk);
  };
  walk(obj(topology.model_config) ?? topology);
  return out;
}

/**
 * The layer a weight belongs to, as override blocks name layers (src/plan/layers.ts, modelLayers): the
 * `<layer>` of a layers model's `<layer>/<weight>`, or a graph model's weight group (the name up to its last
 * '/'). Shared by the weight passes, so a pattern selects the same weights in each.
 */
export function layerOfWeight(name: string, classes: Map<string, string> | undefined): string {
  const cut = name.lastIndexOf('/');
  if (cut <= 0) return name;
  const parent = name.slice(name.lastIndexOf('/', cut - 1) + 1, cut);
  return classes?.has(parent) ? parent : name.slice(0, cut);
}

/** The layer name when `w` is the kernel of a Dense, Conv2D or DepthwiseConv2D layer (float32 only). */
function clusteredLayer(w: DecodedWeight, classes: Map<string, string> | undefined): string | undefined {
  if (w.spec.dtype !== 'float32' || !(w.values instanceof Float32Array)) return undefined;
  const parts = w.spec.name.split('/');
  const own = parts.at(-1);
  const layer = parts.at(-2);
  if (layer === undefined) return undefined;
  if (classes) {
    const cls = classes.get(layer);
    return cls !== undefined && KERNEL_OF[cls] === own ? layer : undefined;
  }
  // No topology to read the class from: go by the Keras weight names alone.
  return own === 'kernel' || own === 'depthwise_kernel' ? layer : undefined;
}

/**
 * Kernels of more values than SAMPLE_ABOVE (not counting zeros kept) are fitted on a sample of SAMPLE of
 * them (fitSample) when they have at most SAMPLE_MAX_CLUSTERS clusters: 8192 sample values per cluster at
 * least (with more clusters per sample value, heavy tails of the weights are fitted worse than on all
 * values). Other kernels are fitted on all values, exactly as version 1 of the pass did.
 */
const SAMPLE_ABOVE = 1 << 20;
const SAMPLE = 1 << 18;
const SAMPLE_MAX_CLUSTERS = 32;

/** A kernel's fitted k-means: all writeKernel needs besides the values. */
interface KernelFit {
  name: string;
  layer: string;
  centroids: Float32Array;
  upper: Float64Array;
  /** The smallest value of each cluster. */
  lower: Float64Array;
  distinct: number;
  nonZero: number;
  iterations: number;
  converged: boolean;
  /** The smallest clustered value and the width of their range. */
  min: number;
  width: number;
}

/**
 * Checks one kernel's values and fits its k-means (in `memory`). `place` is where the options were written
 * for errors: the pass entry's, or 'override' for a layer's own options (an override block, whose position
 * resolveOptions recorded), or undefined when unknown.
 */
function fitKernel(
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
  const nonZero = scanValues(bits, counts, !trySample);
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
      scanValues(input, counts, !sampled);
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
    scanValues(bits, counts, true);
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

/** Writes each value's centroid into `out` (of the same length), kept zeros as they are; returns the statistics. */
function writeKernel(values: Float32Array, out: Float32Array, fit: KernelFit, keep: boolean): ClusterLayerStats {
  const n = values.length;
  const { centroids, upper, lower, min, width, nonZero } = fit;
  const m = upper.length;
  // clusterOf without a search per value: the clustered values map to buckets 0 … B by ⌊(x − min)·B / width⌋,
  // a monotone function, so a bucket that no boundary between clusters falls in holds values of one cluster
  // only: the number of clusters whose largest value maps below it. The rare buckets with a boundary are
  // marked −1, and their values searched.
  const buckets = Math.min(1 << 16, Math.max(1024, 64 * m));
  const scale = width > 0 ? buckets / width : 0;
  const table = new Int32Array(buckets + 1);
  const bucketOf = (x: number) => ((x - min) * scale) | 0;
  for (let j = 0; j + 1 < m; j++) {
    const b = bucketOf(upper[j]!) + 1;
    if (b <= buckets) table[b]!++;
  }
  for (let b = 1; b <= buckets; b++) table[b]! += table[b - 1]!;
  // A boundary falls in a bucket when cluster j's largest value and cluster j + 1's smallest map to it.
  for (let j = 0; j + 1 < m; j++) {
    const b = bucketOf(upper[j]!);
    if (b === bucketOf(lower[j + 1]!)) table[b] = -1;
  }
  const sumSq = assignValues(values, out, keep, min, scale, table, upper, centroids);
  const zerosKept = keep ? n - nonZero : 0;
  // Distinct values of `out` (as a Set would count them: 0 and -0 are one value): the centroids (every
  // cluster holds at least one value: lower[j] ≤ upper[j]), plus 0 for kept zeros. Distinct values before:
  // those of the values clustered, plus 0 when zeros were left out of them.
  const after = new Set<number>(centroids);
  if (zerosKept > 0) after.add(0);
  const distinctBefore = fit.distinct + (keep && nonZero < n ? 1 : 0);
  return {
    weight: fit.name,
    layer: fit.layer,
    clusters: m,
    distinctValues: after.size,
    distinctBefore,
    zerosKept,
    meanSquaredError: n ? sumSq / n : 0,
    iterations: fit.iterations,
    converged: fit.converged,
  };
}

// The per-value loops of the pass are small functions with one loop and a primitive result: V8 optimizes a
// long loop while it runs (on-stack replacement), and code after the loop in the same function has then
// never run, so it deoptimizes there, on every call.

/**
 * Counts the digits of the sort keys of the float32 bit patterns (see sortFloat32) into `counts` (the low
 * one only with `low`); returns how many values are not ±0, or −1 when one is ±Infinity or NaN.
 */
function scanValues(bits: Int32Array, counts: Int32Array, low: boolean): number {
  let nonZero = 0;
  let special = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const key = u ^ ((u >> 31) | 0x80000000);
    if (low) counts[key & 0xffff]!++;
    counts[0x10000 + (key >>> 16)]!++;
    special |= (u & 0x7f800000) === 0x7f800000 ? 1 : 0;
    nonZero += u & 0x7fffffff ? 1 : 0;
  }
  return special ? -1 : nonZero;
}

function firstNonFinite(bits: Int32Array): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/** The bit patterns of the non-zero values, in order, into `kept` (one element longer than their count). */
function compactNonZero(bits: Int32Array, kept: Int32Array): void {
  for (let i = 0, j = 0; i < bits.length; i++) {
    const u = bits[i]!;
    kept[j] = u;
    j += u & 0x7fffffff ? 1 : 0;
  }
}

/**
 * Writes each value's centroid (kept zeros as they are) into `out` and returns the sum of squared changes,
 * summed in element order. `table` gives the cluster of each bucket, −1 for a bucket with a boundary.
 */
function assignValues(
  values: Float32Array,
  out: Float32Array,
  keep: boolean,
  min: number,
  scale: number,
  table: Int32Array,
  upper: Float64Array,
  centroids: Float32Array,
): number {
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (keep && x === 0) {
      out[i] = x;
      continue;
    }
    // min ≤ x ≤ max, so the truncation is the floor, from 0 to B.
    let j = table[((x - min) * scale) | 0]!;
    if (j < 0) j = clusterOf(upper, x);
    const c = centroids[j]!;
    out[i] = c;
    sumSq += (c - x) * (c - x);
  }
  return sumSq;
}

/**
 * k-means of a kernel of more than SAMPLE_ABOVE values into at most SAMPLE_MAX_CLUSTERS clusters, fitted on
 * SAMPLE of them instead of all: sorting millions of values and seeding k-means++ on all of them cost most
 * of the pass, for centroids hardly better than those of a quarter of a million evenly spaced quantiles. One
 * partition of the values by the high half of their sort keys (the radix sort's second pass) gives the
 * quantiles, the exact number of distinct values, and each cluster's smallest and largest value; every
 * value then goes to its nearest centroid. Undefined (fit all values) when the sample has fewer distinct
 * values than clusters are needed, or a cluster would be left without values.
 */
function fitSample(
  bits: Int32Array,
  part: Int32Array,
  counts: Int32Array,
  options: ClusterOptions,
): Omit<KernelFit, 'name' | 'layer' | 'nonZero'> | undefined {
  const n = bits.length;
  const starts = new Int32Array(0x10001);
  for (let d = 0; d < 0x10000; d++) starts[d + 1] = starts[d]! + counts[0x10000 + d]!;
  toOffsets(counts, 0x10000, n);
  const keys = part.subarray(0, n);
  scatterKeys(bits, keys, counts, 0x10000, 16, false);
  const distinct = countDistinctKeys(keys, starts);
  const sample = new Int32Array(SAMPLE);
  for (let j = 0; j < SAMPLE; j++) sample[j] = fromKey(keys[Math.floor(((j + 0.5) * n) / SAMPLE)]!);
  const sampleCounts = new Int32Array(0x20000);
  scanValues(sample, sampleCounts, true);
  const xs = sortFloat32(sample, new Int32Array(SAMPLE), new Int32Array(SAMPLE), sampleCounts);
  const km = kmeansSorted(xs, options.clusters, options);
  const c = km.centroids;
  const m = c.length;
  if (m < Math.min(options.clusters, distinct)) return undefined;
  // Cluster j holds the values in (t[j−1], t[j]], t[j] the midpoint between centroids j and j + 1 (as in
  // Lloyd's assignment): its smallest and largest value, from the partitions around each midpoint.
  const parts = new Partitions(keys, starts);
  const lower = new Float64Array(m);
  const upper = new Float64Array(m);
  lower[0] = parts.min();
  upper[m - 1] = parts.max();
  for (let j = 0; j + 1 < m; j++) {
    const t = (c[j]! + c[j + 1]!) / 2;
    upper[j] = parts.largestAtMost(t);
    lower[j + 1] = parts.smallestAbove(t);
  }
  for (let j = 0; j < m; j++) if (!(lower[j]! <= upper[j]!)) return undefined;
  return {
    centroids: Float32Array.from(c),
    upper,
    lower,
    distinct,
    iterations: km.iterations,
    converged: km.converged,
    min: lower[0]!,
    width: upper[m - 1]! - lower[0]!,
  };
}

const keyBits = new Int32Array(1);
const keyFloat = new Float32Array(keyBits.buffer);

/** The float32 bit pattern of a sort key. */
function fromKey(key: number): number {
  return key ^ (~(key >> 31) | 0x80000000);
}

/** The float32 value of a sort key. */
function keyValue(key: number): number {
  keyBits[0] = fromKey(key);
  return keyFloat[0]!;
}

/**
 * Sort keys partitioned by their high 16 bits (partition d at starts[d] … starts[d + 1]), which order as
 * the values do: every value of a partition below d is smaller than every value of d.
 */
class Partitions {
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
    keyFloat[0] = t;
    const u = keyBits[0]!;
    return (u ^ ((u >> 31) | 0x80000000)) >>> 16;
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
function countDistinctKeys(keys: Int32Array, starts: Int32Array): number {
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

// ---------------------------------------------------------------------------------------------------------
// 1-D k-means

export interface KMeans1DOptions {
  init: 'kmeans++' | 'linear';
  /** Lloyd iterations at most; it stops earlier when the assignment no longer changes. */
  iterations: number;
  seed: number;
}

export interface KMeans1D {
  /** Cluster centres, strictly increasing; min(k, distinct values) of them. */
  centroids: Float64Array;
  /** The largest value of each cluster: x belongs to the first cluster j with x ≤ upper[j]. */
  upper: Float64Array;
  /** Lloyd iterations run (assignment + update). */
  iterations: number;
  /** True when the last iteration left the assignment unchanged. */
  converged: boolean;
  /** Sum of squared distances of the values to their centroids. */
  sse: number;
}

/** Index of the cluster of `x`: the first j with x ≤ upper[j] (the last cluster for anything larger). */
export function clusterOf(upper: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = upper.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= upper[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * k-means of scalar values into at most k clusters (fewer only when there are fewer distinct values).
 * Lloyd's algorithm on the sorted values, where each cluster is a contiguous range [starts[j], starts[j+1]).
 * A cluster left empty is refilled by splitting the extreme value group off the cluster with the largest
 * squared error (which lowers the error), so the result has exactly min(k, distinct) clusters.
 */
export function kmeans1d(values: ArrayLike<number>, k: number, opts: KMeans1DOptions): KMeans1D {
  const xs = Float64Array.from(values).sort();
  const { centroids, upper, iterations, converged, starts } = kmeansSorted(xs, k, opts);
  let sse = 0;
  for (let j = 0; j < centroids.length; j++) sse = addSquares(xs, starts[j]!, starts[j + 1]!, centroids[j]!, sse);
  return { centroids, upper, iterations, converged, sse };
}

/** Values sorted ascending: float32 from the pass (as stored), float64 from kmeans1d. */
type Sorted = Float32Array | Float64Array;

interface SortedFit {
  centroids: Float64Array;
  upper: Float64Array;
  /** The smallest value of each cluster. */
  lower: Float64Array;
  /** Where each cluster's range of the sorted values starts, then n. */
  starts: Int32Array;
  iterations: number;
  converged: boolean;
  /** Distinct values among the sorted ones. */
  distinct: number;
}

/**
 * kmeans1d on values already sorted ascending. `d2` (n doubles) is scratch memory for the k-means++ distances.
 */
function kmeansSorted(xs: Sorted, k: number, opts: KMeans1DOptions, d2?: Float64Array): SortedFit {
  const n = xs.length;
  if (n === 0 || k < 1)
    return {
      centroids: new Float64Array(0),
      upper: new Float64Array(0),
      lower: new Float64Array(0),
      starts: Int32Array.of(0),
      iterations: 0,
      converged: true,
      distinct: 0,
    };
  let centroids: Float64Array;
  let distinct: number;
  const checkpoints = new Float64Array((n >> 4) + 1);
  if (opts.init === 'linear') {
    distinct = countDistinct(xs, checkpoints);
    centroids = linearInit(xs, k);
  } else {
    ({ centroids, distinct } = kmeansPlusPlusInit(xs, k, opts.seed, d2 ?? new Float64Array(n), checkpoints));
  }
  const target = Math.min(k, distinct);
  const ranges = new Ranges(xs, checkpoints);
  let previous: Int32Array | undefined;
  let iterations = 0;
  let converged = false;
  for (; iterations < Math.max(1, opts.iterations); iterations++) {
    const starts = refill(ranges, assign(xs, centroids), target);
    if (previous && sameStarts(previous, starts)) {
      converged = true;
      break;
    }
    centroids = means(ranges, starts);
    previous = starts;
  }
  const starts = previous!;
  const m = starts.length - 1;
  const upper = new Float64Array(m);
  const lower = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    upper[j] = xs[starts[j + 1]! - 1]!;
    lower[j] = xs[starts[j]!]!;
  }
  return { centroids, upper, lower, starts, iterations, converged, distinct };
}

/** The number of distinct values of xs (sorted); also the running sums at every 16th index into `checkpoints` (see Ranges). */
function countDistinct(xs: Sorted, checkpoints: Float64Array): number {
  let distinct = 1;
  let prev = xs[0]!;
  let total = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    distinct += x !== prev ? 1 : 0;
    prev = x;
    if ((i & 15) === 0) checkpoints[i >> 4] = total;
    total += x;
  }
  return distinct;
}

/** sse + the squared distances of xs[from..to) to c, added in order. */
function addSquares(xs: Sorted, from: number, to: number, c: number, sse: number): number {
  for (let i = from; i < to; i++) {
    const d = xs[i]! - c;
    sse += d * d;
  }
  return sse;
}

/**
 * Sums over ranges of the sorted values: s(e) = xs[0] + … + xs[e−1], added in that order, from the running
 * sum at every 16th index (`checkpoints[e >> 4]`, filled while the values were first read) plus at most 15
 * values; the same for squares on first use (only refill needs them). Exactly the running prefix sums, from an
 * array 16 times smaller than the values.
 */
class Ranges {
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

/** Deep Compression's linear initialisation: k centres evenly spaced between the smallest and largest value. */
function linearInit(xs: Sorted, k: number): Float64Array {
  const lo = xs[0]!;
  const hi = xs[xs.length - 1]!;
  if (k === 1 || lo === hi) return Float64Array.of(lo);
  const c = new Float64Array(k);
  for (let j = 0; j < k; j++) c[j] = lo + ((hi - lo) * j) / (k - 1);
  return c;
}

/**
 * k-means++ (Arthur & Vassilvitskii): the first centre uniformly, each next one with probability
 * proportional to its squared distance to the nearest centre so far. On sorted values a new centre c only
 * lowers the distances of a contiguous run around it (walking outwards, the first value that does not get
 * closer has a centre between it and c, or beyond it, that is nearer for everything further out), and sums
 * of the distances over blocks of √n values make sampling O(√n). Returns at most min(k, distinct values)
 * centres, and the number of distinct values.
 */
function kmeansPlusPlusInit(
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

/** The nearest-centroid assignment as ranges: a value goes to cluster j when it is ≤ the midpoint to c[j+1]. */
function assign(xs: Sorted, c: Float64Array): Int32Array {
  const m = c.length;
  const starts = new Int32Array(m + 1);
  starts[m] = xs.length;
  let from = 0;
  for (let j = 0; j + 1 < m; j++) {
    const boundary = (c[j]! + c[j + 1]!) / 2;
    // first index with xs[i] > boundary, searching from the previous boundary on (boundaries increase)
    let lo = from;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid]! <= boundary) lo = mid + 1;
      else hi = mid;
    }
    starts[j + 1] = from = lo;
  }
  return starts;
}

/**
 * Drops empty ranges, then, while fewer than `target` clusters remain, splits the cluster with the largest
 * squared error that holds more than one distinct value: its extreme value group farther from its mean
 * becomes a cluster of its own. Ranges always split between different values.
 */
function refill(r: Ranges, starts: Int32Array, target: number): Int32Array {
  const bounds: number[] = [0];
  for (let j = 1; j < starts.length; j++) if (starts[j]! > bounds[bounds.length - 1]!) bounds.push(starts[j]!);
  if (bounds.length - 1 >= target) return bounds.length === starts.length ? starts : Int32Array.from(bounds);
  const { xs } = r;
  const heap = new MaxHeap();
  const offer = (s: number, e: number) => {
    if (xs[s]! < xs[e - 1]!) heap.push(s, e, sse(r, s, e));
  };
  for (let j = 0; j + 1 < bounds.length; j++) offer(bounds[j]!, bounds[j + 1]!);
  let count = bounds.length - 1;
  while (count < target && heap.size > 0) {
    const [s, e] = heap.pop();
    const mean = (r.s1(e) - r.s1(s)) / (e - s);
    let g: number;
    if (mean - xs[s]! > xs[e - 1]! - mean) {
      g = s + 1;
      while (xs[g] === xs[s]) g++;
    } else {
      g = e - 1;
      while (xs[g - 1] === xs[e - 1]) g--;
    }
    bounds.push(g);
    count++;
    offer(s, g);
    offer(g, e);
  }
  return Int32Array.from(bounds).sort();
}

function sse(r: Ranges, s: number, e: number): number {
  const sum = r.s1(e) - r.s1(s);
  return Math.max(0, r.s2(e) - r.s2(s) - (sum * sum) / (e - s));
}

/** Each range's mean, kept inside the range (so centroids stay strictly increasing despite rounding). */
function means(r: Ranges, starts: Int32Array): Float64Array {
  const m = starts.length - 1;
  const c = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const s = starts[j]!;
    const e = starts[j + 1]!;
    c[j] = Math.min(r.xs[e - 1]!, Math.max(r.xs[s]!, (r.s1(e) - r.s1(s)) / (e - s)));
  }
  return c;
}

function sameStarts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A binary max-heap of ranges keyed by squared error (ties: the earlier range first, for determinism). */
class MaxHeap {
  private readonly items: { s: number; e: number; key: number }[] = [];

  get size(): number {
    return this.items.length;
  }

  push(s: number, e: number, key: number): void {
    const a = this.items;
    a.push({ s, e, key });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): [number, number] {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const rr = l + 1;
        let best = i;
        if (l < a.length && this.above(a[l]!, a[best]!)) best = l;
        if (rr < a.length && this.above(a[rr]!, a[best]!)) best = rr;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return [top.s, top.e];
  }

  private above(x: { s: number; key: number }, y: { s: number; key: number }): boolean {
    return x.key > y.key || (x.key === y.key && x.s < y.s);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scratch memory and sorting

/**
 * Scratch memory for one apply(): the output buffer while it is not written yet (its pages are touched anyway;
 * fresh memory costs a page fault per 4 kB page on first use), or a buffer of its own when that is too small,
 * reused from one kernel to the next. A region handed out is valid until the next get().
 */
class Memory {
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

/**
 * The float32 values with bit patterns `bits` sorted ascending (as Float32Array.prototype.sort orders them:
 * -0 before +0): an LSD radix sort of the bit patterns mapped to unsigned keys in numeric order, in two
 * passes of 16 bits (fewer passes beat the cache-friendlier 11-bit digits here), skipping a digit all keys
 * share. `counts` holds the counts of both digits (scanValues). The first pass reads `bits` (which may be a
 * prefix of x), the last maps the keys back; the passes alternate between `x` and `y`. Values must not be
 * NaN. Returns a view of x or y.
 */
function sortFloat32(bits: Int32Array, x: Int32Array, y: Int32Array, counts: Int32Array): Float32Array {
  const n = bits.length;
  const passes: [number, number][] = [];
  if (!toOffsets(counts, 0, n)) passes.push([0, 0]);
  if (!toOffsets(counts, 0x10000, n)) passes.push([0x10000, 16]);
  const xs = x.subarray(0, n);
  const ys = y.subarray(0, n);
  if (passes.length === 0) {
    // All values equal.
    xs.set(bits);
    return new Float32Array(xs.buffer, xs.byteOffset, n);
  }
  // The first pass must not write over its own input: when `bits` lies in x, it writes y.
  let dst = bits.buffer === xs.buffer && bits.byteOffset === xs.byteOffset ? ys : xs;
  let src: Int32Array = bits;
  for (const [p, [base, shift]] of passes.entries()) {
    const last = p === passes.length - 1;
    if (p === 0) scatterKeys(src, dst, counts, base, shift, last);
    else scatter(src, dst, counts, base, shift);
    src = dst;
    dst = dst === xs ? ys : xs;
  }
  return new Float32Array(src.buffer, src.byteOffset, n);
}

// Keys: negative floats flip all bits, others flip the sign bit, so keys order as unsigned integers; the
// last pass stores the bit patterns again.

/** Turns the 65536 counts from `from` on into start offsets; true when one digit value holds all n keys (no pass needed). */
function toOffsets(counts: Int32Array, from: number, n: number): boolean {
  let sum = 0;
  let all = false;
  for (let j = from; j < from + 0x10000; j++) {
    const t = counts[j]!;
    all ||= t === n;
    counts[j] = sum;
    sum += t;
  }
  return all;
}

/** The first pass: from bit patterns to keys (or straight back, when it is also the last). */
function scatterKeys(
  bits: Int32Array,
  dst: Int32Array,
  counts: Int32Array,
  base: number,
  shift: number,
  last: boolean,
): void {
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const key = u ^ ((u >> 31) | 0x80000000);
    dst[counts[base + ((key >>> shift) & 0xffff)]!++] = last ? u : key;
  }
}

/** The second (last) pass: by the high digit, back to bit patterns. */
function scatter(src: Int32Array, dst: Int32Array, counts: Int32Array, base: number, shift: number): void {
  for (let i = 0; i < src.length; i++) {
    const key = src[i]!;
    dst[counts[base + ((key >>> shift) & 0xffff)]!++] = key ^ (~(key >> 31) | 0x80000000);
  }
}
