/**
 * cluster: weight sharing (Han et al., Deep Compression; TF-MOT's weight clustering). The values of each
 * Dense, Conv2D and DepthwiseConv2D kernel are grouped by k-means into K clusters and every weight is
 * replaced by its cluster's centroid, so a kernel holds at most K distinct values (plus 0: weights that are
 * exactly zero — pruned — stay zero and are not clustered unless `preserveZeros: false`). Biases,
 * batch-norm parameters and integer weights are untouched. A later finetune keeps the assignment and
 * trains the centroids (src/passes/constraints.ts, clusterConstraint).
 *
 * k-means on scalars is 1-D, where every cluster of an optimal (and of every Lloyd) assignment is a
 * contiguous range of the sorted values. So the values are sorted once (O(n log n)), and each Lloyd
 * iteration finds the K-1 boundaries between neighbouring centroids by binary search and each centroid as
 * a range mean from prefix sums: O(K log n) per iteration instead of O(nK). k-means++ seeding is O(n log n)
 * too: a Fenwick tree over the squared distances samples the next centre, and a new centre only lowers the
 * distances of a contiguous run of sorted values around it. The pass is pure JS: no TF.js, no backend.
 */
import { McbError } from '../errors.js';
import { decodeWeights, encodeWeights, type DecodedWeight } from '../engine/weights.js';
import { formatDataPath } from '../recipe/index.js';
import { mulberry32 } from '../util/random.js';
import { withRecordedWeights } from './constraints.js';
import type { OptionsPlace, PassDefinition } from './types.js';

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
  iterations: number;
  converged: boolean;
}

/** Layer classes whose kernels are clustered, and the name of that kernel. */
const KERNEL_OF: Readonly<Record<string, string>> = { Dense: 'kernel', Conv2D: 'kernel', DepthwiseConv2D: 'depthwise_kernel' };

/**
 * Where `clusters` / `bits` were written, per resolved options object, for the errors only apply() can see
 * (they depend on the model) when the executor passes no `ctx.place`. A source position must not go into
 * the options themselves: they are hashed into the step key, and moving a line must not invalidate it.
 */
const written = new WeakMap<ClusterOptions, { option: 'clusters' | 'bits'; at: string; path: string }>();

export const cluster: PassDefinition<ClusterOptions> = {
  name: 'cluster',
  version: 1,
  summary: 'k-means weight sharing per kernel: at most K distinct values (Deep Compression)',
  dependsOnBackend: false,
  needs: [],

  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    if (raw.clusters !== undefined && raw.bits !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} sets both clusters (${String(raw.clusters)}) and bits (${String(raw.bits)}) at ${place.at('bits')}; keep one of them (bits: b means clusters: 2^b).`,
      );
    }
    if (raw.clusters === undefined && raw.bits === undefined) {
      throw new McbError('MCB_RECIPE_INVALID', `${name} needs the number of clusters at ${place.at()}; set \`clusters: K\` (2..65536) or \`bits: b\` (1..16, K = 2^b), e.g. \`- cluster: { bits: 4 }\`.`);
    }
    const option = raw.clusters !== undefined ? 'clusters' : 'bits';
    const value = raw[option];
    const [lo, hi] = option === 'clusters' ? [2, 65536] : [1, 16];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw new McbError('MCB_RECIPE_INVALID', `\`${formatDataPath([...place.path, option])}\` must be an integer from ${lo} to ${hi} (got ${JSON.stringify(value)}) at ${place.at(option)}.`);
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
    const classes = layerClasses(model.json);
    const layers: ClusterLayerStats[] = [];
    let sumSq = 0;
    let clustered = 0;
    const scratch = new Scratch();
    const weights = decodeWeights(model).map((w): DecodedWeight => {
      const layer = clusteredLayer(w, classes);
      if (layer === undefined) return w;
      ctx.progress(`clustering ${w.spec.name}`);
      const { values, stats } = clusterKernel(w.spec.name, layer, w.values as Float32Array, options, ctx.place, scratch);
      layers.push(stats);
      sumSq += stats.meanSquaredError * values.length;
      clustered += values.length;
      return { spec: w.spec, values };
    });
    return {
      model: encodeWeights(withRecordedWeights(model.json, 'clusteredWeights', layers.map((l) => l.weight)), weights),
      stats: {
        clusters: options.clusters,
        kernelsClustered: layers.length,
        weightsClustered: clustered,
        meanSquaredError: clustered ? sumSq / clustered : 0,
        layers,
      },
    };
  },
};

/** Layer name → class name, from a layers model's topology (undefined for a graph model). */
export function layerClasses(json: Record<string, unknown>): Map<string, string> | undefined {
  const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
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

function clusterKernel(name: string, layer: string, values: Float32Array, options: ClusterOptions, place: OptionsPlace | undefined, scratch: Scratch): { values: Float32Array; stats: ClusterLayerStats } {
  const keep = options.preserveZeros;
  const n = values.length;
  let nonZero = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      // Only ±Infinity and NaN fail x - x === 0.
      throw new McbError('MCB_MODEL_INVALID', `weight ${name} holds ${x}; a model with non-finite weights cannot be clustered. Retrain it or check the steps before the cluster pass.`);
    }
    if (x !== 0) nonZero++;
  }
  // The values to cluster (only read: sorting works on its own copy).
  let input: Float32Array = values;
  if (keep && nonZero < n) {
    const bits = scratch.u32(2, nonZero);
    input = new Float32Array(bits.buffer, bits.byteOffset, nonZero);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x !== 0) input[j++] = x;
    }
  }
  if (input.length < options.clusters) {
    const w = written.get(options);
    const option = w?.option ?? 'clusters';
    const where = place ? { path: formatDataPath([...place.path, option]), at: place.at(option) } : w;
    const what = keep ? 'non-zero weights' : 'weights';
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `layer ${layer} (weight ${name}) has only ${input.length} ${what}, fewer than the ${options.clusters} clusters asked for${where ? ` by \`${where.path}\` at ${where.at}` : ''}; lower \`clusters\` (or \`bits\`) to at most ${input.length}${keep ? ', or prune less' : ''}.`,
    );
  }
  const km = kmeansSorted(sortFloat32(input, scratch), options.clusters, options, scratch);
  const out = new Float32Array(n);
  const centroids = Float32Array.from(km.centroids);
  const upper = km.upper;
  const m = upper.length;
  const used = new Uint8Array(m);
  // clusterOf without the binary search: a table over equal-width buckets of [min, max] gives the cluster of
  // each bucket's lower end, and a short walk up (x ≤ upper[j], the same exact comparisons) finishes it.
  const xs = km.xs;
  const min = xs[0]!;
  const width = xs[xs.length - 1]! - min;
  const buckets = Math.max(1, Math.min(1 << 16, 64 * m));
  const scale = width > 0 ? buckets / width : 0;
  const first = new Int32Array(buckets + 1);
  for (let b = 0, j = 0; b <= buckets; b++) {
    const edge = min + b / scale;
    while (j < m - 1 && !(edge <= upper[j]!)) j++;
    first[b] = j;
  }
  let sumSq = 0;
  let zerosKept = 0;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (keep && x === 0) {
      out[i] = x;
      zerosKept++;
      continue;
    }
    // The bucket's lower edge is ≤ x (up to rounding: step back a cluster when it is not, so the walk
    // upwards starts at or before the answer).
    let lo = first[Math.min(buckets, Math.max(0, Math.floor((x - min) * scale)))]!;
    while (lo > 0 && x <= upper[lo - 1]!) lo--;
    while (lo < m - 1 && !(x <= upper[lo]!)) lo++;
    used[lo] = 1;
    const c = centroids[lo]!;
    out[i] = c;
    sumSq += (c - x) * (c - x);
  }
  // Distinct values of `out` (as a Set would count them: 0 and -0 are one value): the centroids used, plus 0
  // for kept zeros. Distinct values before: those of the sorted input, plus 0 when zeros were left out of it.
  const after = new Set<number>();
  for (let j = 0; j < m; j++) if (used[j]) after.add(centroids[j]!);
  if (zerosKept > 0) after.add(0);
  const distinctBefore = km.distinct + (keep && nonZero < n ? 1 : 0);
  return {
    values: out,
    stats: {
      weight: name,
      layer,
      clusters: km.centroids.length,
      distinctValues: after.size,
      distinctBefore,
      zerosKept,
      meanSquaredError: n ? sumSq / n : 0,
      iterations: km.iterations,
      converged: km.converged,
    },
  };
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
  const { distinct: _distinct, xs: _xs, ...result } = kmeansSorted(Float64Array.from(values).sort(), k, opts);
  return result;
}

/** kmeans1d on values already sorted ascending; also returns the number of distinct values. */
function kmeansSorted(xs: Float64Array, k: number, opts: KMeans1DOptions, scratch?: Scratch): KMeans1D & { distinct: number; xs: Float64Array } {
  const n = xs.length;
  if (n === 0 || k < 1) return { centroids: new Float64Array(0), upper: new Float64Array(0), iterations: 0, converged: true, sse: 0, distinct: 0, xs };
  let distinct = 1;
  for (let i = 1; i < n; i++) if (xs[i] !== xs[i - 1]) distinct++;
  const target = Math.min(k, distinct);
  const s1 = scratch ? scratch.f64(1, n + 1) : new Float64Array(n + 1);
  s1[0] = 0;
  for (let i = 0; i < n; i++) s1[i + 1] = s1[i]! + xs[i]!;
  const ranges: Ranges = { xs, s1, s2: undefined };
  let centroids = opts.init === 'linear' ? linearInit(xs, k) : kmeansPlusPlusInit(xs, target, opts.seed, scratch);
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
  let sse = 0;
  for (let j = 0; j < m; j++) {
    upper[j] = xs[starts[j + 1]! - 1]!;
    const c = centroids[j]!;
    for (let i = starts[j]!, e = starts[j + 1]!; i < e; i++) {
      const d = xs[i]! - c;
      sse += d * d;
    }
  }
  return { centroids, upper, iterations, converged, sse, distinct, xs };
}

interface Ranges {
  xs: Float64Array;
  s1: Float64Array;
  /** Prefix sums of squares, computed on first use (only refill needs them). */
  s2: Float64Array | undefined;
}

/** Deep Compression's linear initialisation: k centres evenly spaced between the smallest and largest value. */
function linearInit(xs: Float64Array, k: number): Float64Array {
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
 * closer has a centre between it and c, or beyond it, that is nearer for everything further out), and a
 * Fenwick tree of the distances samples in O(log n). `target` ≤ the number of distinct values.
 */
function kmeansPlusPlusInit(xs: Float64Array, target: number, seed: number, scratch?: Scratch): Float64Array {
  const n = xs.length;
  const random = mulberry32(seed);
  const first = Math.min(n - 1, Math.floor(random() * n));
  const chosen: number[] = [xs[first]!];
  const d2 = scratch ? scratch.f64(2, n) : new Float64Array(n);
  // Sums of d2 over blocks of B consecutive values (B ≈ √n): sampling scans the block sums, then one block.
  const B = Math.max(16, Math.ceil(Math.sqrt(n)));
  const blocks = Math.ceil(n / B);
  const blockSum = new Float64Array(blocks);
  const x0 = xs[first]!;
  for (let blk = 0; blk < blocks; blk++) {
    let sum = 0;
    for (let i = blk * B, e = Math.min(n, i + B); i < e; i++) {
      const d = (xs[i]! - x0) ** 2;
      d2[i] = d;
      sum += d;
    }
    blockSum[blk] = sum;
  }
  const resum = (from: number, to: number) => {
    for (let blk = Math.floor(from / B), last = Math.floor(to / B); blk <= last; blk++) {
      let sum = 0;
      for (let i = blk * B, e = Math.min(n, i + B); i < e; i++) sum += d2[i]!;
      blockSum[blk] = sum;
    }
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
    let lo = i;
    let hi = i;
    for (let j = i; j >= 0; j--) {
      const d = (xs[j]! - c) ** 2;
      if (!(d < d2[j]!)) break;
      d2[j] = d;
      lo = j;
    }
    for (let j = i + 1; j < n; j++) {
      const d = (xs[j]! - c) ** 2;
      if (!(d < d2[j]!)) break;
      d2[j] = d;
      hi = j;
    }
    resum(lo, hi);
  }
  return Float64Array.from(chosen).sort();
}

function nearestPositive(d2: Float64Array, i: number): number {
  for (let r = 1; r < d2.length; r++) {
    if (i + r < d2.length && d2[i + r]! > 0) return i + r;
    if (i - r >= 0 && d2[i - r]! > 0) return i - r;
  }
  return -1;
}

/** The nearest-centroid assignment as ranges: a value goes to cluster j when it is ≤ the midpoint to c[j+1]. */
function assign(xs: Float64Array, c: Float64Array): Int32Array {
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
    const mean = (r.s1[e]! - r.s1[s]!) / (e - s);
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
  let s2 = r.s2;
  if (!s2) {
    const { xs } = r;
    s2 = r.s2 = new Float64Array(xs.length + 1);
    for (let i = 0; i < xs.length; i++) s2[i + 1] = s2[i]! + xs[i]! * xs[i]!;
  }
  const sum = r.s1[e]! - r.s1[s]!;
  return Math.max(0, s2[e]! - s2[s]! - (sum * sum) / (e - s));
}

/** Each range's mean, kept inside the range (so centroids stay strictly increasing despite rounding). */
function means(r: Ranges, starts: Int32Array): Float64Array {
  const m = starts.length - 1;
  const c = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const s = starts[j]!;
    const e = starts[j + 1]!;
    c[j] = Math.min(r.xs[e - 1]!, Math.max(r.xs[s]!, (r.s1[e]! - r.s1[s]!) / (e - s)));
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
 * Buffers reused from one kernel to the next within one apply(): fresh 40 MB arrays per kernel cost more in
 * page faults and zeroing than the k-means itself. Views handed out are only valid until the next request
 * of the same slot.
 */
class Scratch {
  private readonly f64s: Float64Array[] = [];
  private readonly u32s: Uint32Array[] = [];

  f64(slot: number, length: number): Float64Array {
    let b = this.f64s[slot];
    if (!b || b.length < length) b = this.f64s[slot] = new Float64Array(length);
    return b.subarray(0, length);
  }

  u32(slot: number, length: number): Uint32Array {
    let b = this.u32s[slot];
    if (!b || b.length < length) b = this.u32s[slot] = new Uint32Array(length);
    return b.subarray(0, length);
  }
}

/**
 * The float32 values sorted ascending (as Float32Array.prototype.sort orders them: -0 before +0), widened to
 * float64: an LSD radix sort (11 + 11 + 10 bits) of the IEEE bit patterns mapped to unsigned keys in
 * numeric order. Values must not be NaN. Returns a view into `scratch` (slot 0).
 */
function sortFloat32(values: Float32Array, scratch: Scratch): Float64Array {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let a = scratch.u32(0, n);
  let b = scratch.u32(1, n);
  const c0 = new Uint32Array(2048);
  const c1 = new Uint32Array(2048);
  const c2 = new Uint32Array(1024);
  for (let i = 0; i < n; i++) {
    const u = bits[i]!;
    // negative: flip all bits; positive: flip the sign bit
    const key = (u ^ ((u >> 31) | 0x80000000)) >>> 0;
    a[i] = key;
    c0[key & 0x7ff]!++;
    c1[(key >>> 11) & 0x7ff]!++;
    c2[key >>> 22]!++;
  }
  const prefix = (c: Uint32Array) => {
    let sum = 0;
    for (let j = 0; j < c.length; j++) {
      const t = c[j]!;
      c[j] = sum;
      sum += t;
    }
  };
  prefix(c0);
  prefix(c1);
  prefix(c2);
  for (let i = 0; i < n; i++) {
    const key = a[i]!;
    b[c0[key & 0x7ff]!++] = key;
  }
  [a, b] = [b, a];
  for (let i = 0; i < n; i++) {
    const key = a[i]!;
    b[c1[(key >>> 11) & 0x7ff]!++] = key;
  }
  [a, b] = [b, a];
  for (let i = 0; i < n; i++) {
    const key = a[i]!;
    b[c2[key >>> 22]!++] = key;
  }
  // back to the bit patterns, in place, then widen
  for (let i = 0; i < n; i++) {
    const key = b[i]!;
    b[i] = key & 0x80000000 ? key ^ 0x80000000 : ~key >>> 0;
  }
  const sorted = new Float32Array(b.buffer, b.byteOffset, n);
  const out = scratch.f64(0, n);
  out.set(sorted);
  return out;
}
