/**
 * prune: unstructured magnitude pruning of the kernels of Dense, Conv2D and DepthwiseConv2D layers (never
 * biases, batch-norm parameters or int32 weights).
 *  - one-shot (`sparsity`): the round(sparsity·n) smallest |w| of each kernel (`scope: layer`) or of all
 *    kernels together (`scope: global`) become exactly zero; ties at the threshold go by position, so the
 *    count is exact. Done on the decoded weight arrays (no TF.js): a selection, not a sort.
 *  - N:M (`pattern: "2:4"`): in every group of M consecutive weights along a kernel's input (reduction)
 *    dimension, the N largest by magnitude stay (NVIDIA's 2:4 sparsity). Depthwise kernels reduce over the
 *    spatial window only and are left alone.
 *  - gradual (`schedule`): Zhu & Gupta's polynomial schedule while training on data.train for `steps`
 *    batches; sparsity rises from initialSparsity to `sparsity` every `frequency` steps and pruned weights are
 *    re-zeroed after every optimizer step.
 * Weights that arrive quantized are decoded and come out float32. A later finetune keeps the zeros
 * (src/passes/constraints.ts).
 *
 * Per-layer overrides (src/plan/layers.ts) give a layer its own `sparsity` or `pattern`, or `skip` it:
 *  - a skipped kernel is never pruned, nor recorded in `prunedWeights` (a later finetune moves it freely);
 *    while a schedule trains the model, every layer an override skips is frozen and comes out bit-identical
 *    (as finetune treats skipped layers: the pass leaves them as they are);
 *  - a layer's own sparsity is reached exactly in that kernel: at once, or along the entry's schedule (the
 *    same steps and initialSparsity, its own final sparsity);
 *  - a layer's own pattern prunes it N:M, also within a scheduled entry (re-imposed at every pruning step);
 *  - scope global: the kernels an override gave their own sparsity or pattern are pruned on their own and
 *    leave the global pool; one threshold over the remaining kernels reaches the entry's sparsity among them.
 * A block's pattern replaces the entry's sparsity, scope, schedule and training options for its layer (they
 * cannot go with a pattern), and a block's sparsity replaces the entry's pattern.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset } from '../../data/index.js';
import { McbError } from '../../errors.js';
import { modelKind, weightByteLength, type StoredModel, type WeightSpec } from '../../engine/model-format.js';
import type { Tf } from '../../engine/runtime.js';
import { decodeWeights, encodeWeights } from '../../engine/weights.js';
import { formatDataPath } from '../../recipe/index.js';
import { freezeSkipped, withRecordedWeights } from '../constraints.js';
import { optionsByLayer, type LayerOptions, type PassContext, type PassDefinition } from '../types.js';

export interface PruneSchedule {
  kind: 'polynomial';
  power: number;
  steps: number;
  frequency: number;
  initialSparsity: number;
}

export interface PruneOptions {
  method: 'magnitude';
  /** Fraction of weights set to zero (absent with `pattern`). */
  sparsity?: number;
  scope?: 'layer' | 'global';
  /** "N:M". */
  pattern?: string;
  schedule?: PruneSchedule;
  learningRate?: number;
  batchSize?: number;
  optimizer?: 'adam' | 'sgd' | 'momentum';
  seed?: number;
}

export interface LayerSparsity {
  /** The kernel: "fc_1/kernel". */
  layer: string;
  sparsity: number;
  zeros: number;
  total: number;
  /** The sparsity an override gave this layer (absent: the entry's). */
  target?: number;
  /** The N:M pattern an override gave this layer. */
  pattern?: string;
}

const PRUNABLE_CLASSES = new Set(['Dense', 'Conv2D', 'DepthwiseConv2D']);
const KERNEL_NAME = /(?:^|\/)([^/]+)\/(depthwise_)?kernel$/;
const TRAINING_OPTIONS = ['learningRate', 'batchSize', 'optimizer', 'seed'] as const;

/** Where each resolved pattern was written, for the misfit error of a pattern an override gave one layer. */
const patternAt = new WeakMap<PruneOptions, string>();

export const prune: PassDefinition<PruneOptions> = {
  name: 'prune',
  version: 1,
  summary: 'set the smallest-magnitude kernel weights to zero (per layer, global, N:M, or gradually while training)',
  dependsOnBackend: false,
  needs: [],
  needsFor: (options) => (options.schedule ? ['train'] : []),
  // Gradual pruning trains between pruning steps; one-shot pruning reads no data.
  labelsFor: (options) => (options.schedule ? ['train'] : []),
  labelsWhy: 'with a schedule trains on the labels of data.train while it prunes',
  labelFreeHint: 'prune in one shot (no `schedule`)',
  dependsOnBackendFor: (options) => options.schedule !== undefined,
  perLayer: ['sparsity', 'pattern'],
  // resolveOptions refuses a pattern with a sparsity, scope, schedule or training option: a block's pattern
  // replaces those of the entry for its layers, and a block's sparsity the entry's pattern.
  exclusiveOptions: [['sparsity', 'pattern'], ...['scope', 'schedule', ...TRAINING_OPTIONS].map((k) => ['pattern', k])],

  resolveOptions(raw, place) {
    const where = formatDataPath(place.path);
    // `message` gets the position ("at recipe.yaml:12:7") of the option, or of the pass entry.
    const invalid = (option: string | undefined, message: (at: string) => string) =>
      new McbError('MCB_RECIPE_INVALID', `\`${where}\` ${message(`at ${place.at(option)}`)}`);
    const has = (k: string) => raw[k] !== undefined;
    if (has('sparsity') && has('pattern')) {
      throw invalid(
        'pattern',
        (at) =>
          `sets both sparsity and pattern, ${at}; keep one: \`sparsity\` prunes a fraction by magnitude, \`pattern: "N:M"\` keeps N of every M weights.`,
      );
    }
    if (!has('sparsity') && !has('pattern')) {
      throw invalid(
        undefined,
        (at) =>
          `sets neither sparsity nor pattern, ${at}; add e.g. \`sparsity: 0.5\` (half of each kernel set to zero) or \`pattern: "2:4"\`.`,
      );
    }
    const method = 'magnitude' as const;
    if (has('pattern')) {
      const pattern = raw.pattern as string;
      const { n, m } = parsePattern(pattern);
      if (n >= m)
        throw invalid(
          'pattern',
          (at) =>
            `keeps ${n} of every ${m} weights (pattern "${pattern}"), ${at}; N must be smaller than M, e.g. "2:4".`,
        );
      for (const k of ['scope', 'schedule', ...TRAINING_OPTIONS]) {
        if (has(k))
          throw invalid(
            k,
            (at) =>
              `sets ${k} with pattern, ${at}; an N:M pattern is one-shot and per group. Remove \`${k}\` (a finetune pass after prune recovers accuracy and keeps the zeros).`,
          );
      }
      const options: PruneOptions = { method, pattern };
      patternAt.set(options, place.at('pattern'));
      return options;
    }
    const sparsity = raw.sparsity as number;
    const scope = (raw.scope as PruneOptions['scope']) ?? 'layer';
    if (!has('schedule')) {
      for (const k of TRAINING_OPTIONS) {
        if (has(k))
          throw invalid(
            k,
            (at) =>
              `sets ${k} without a schedule, ${at}; training options apply only to gradual pruning (\`schedule: { steps: 1000 }\`). Remove \`${k}\`, or add a schedule.`,
          );
      }
      return { method, sparsity, scope };
    }
    const s = raw.schedule as Partial<PruneSchedule> & { steps: number };
    const initialSparsity = s.initialSparsity ?? 0;
    if (initialSparsity > sparsity) {
      throw invalid(
        'schedule',
        (at) =>
          `starts its schedule at initialSparsity ${initialSparsity}, above the final sparsity ${sparsity}, ${at}; the schedule only raises sparsity.`,
      );
    }
    const schedule: PruneSchedule = {
      kind: s.kind ?? 'polynomial',
      power: s.power ?? 3,
      steps: s.steps,
      frequency: s.frequency ?? Math.max(1, Math.round(s.steps / 10)),
      initialSparsity,
    };
    return {
      method,
      sparsity,
      scope,
      schedule,
      learningRate: (raw.learningRate as number | undefined) ?? 1e-4,
      batchSize: (raw.batchSize as number | undefined) ?? 64,
      optimizer: (raw.optimizer as PruneOptions['optimizer']) ?? 'adam',
      seed: (raw.seed as number | undefined) ?? 1,
    };
  },

  async apply(model, options, ctx) {
    if (modelKind(model.json) !== 'layers') {
      throw new McbError(
        'MCB_MODEL_INVALID',
        'prune needs a layers model (model.json with format "layers-model"): it finds the Dense and Conv2D kernels by layer. Remove the prune pass or start from a layers model.',
      );
    }
    const optionsFor = optionsByLayer(ctx, options);
    if (options.schedule) return applyScheduled(model, options, options.schedule, optionsFor, ctx);
    const editable = editableWeights(model);
    const skippedLayers = new Set<string>();
    const { kernels, left } = planKernels(
      prunableKernels(model.json, editable.weights),
      options,
      optionsFor,
      skippedLayers,
    );
    kernels.forEach(checkFinite);
    for (const k of kernels) if (k.plan.kind === 'pattern') checkPattern(k, k.plan, ctx);
    const pool: Kernel[] = [];
    for (const k of kernels) {
      const p = k.plan;
      if (p.kind === 'pattern') pruneNM(k.values, k.shape, p.n, p.m);
      else if (p.pooled) pool.push(k);
      else pruneSmallest([k.values], Math.round(p.sparsity * k.values.length));
    }
    if (pool.length)
      pruneSmallest(
        pool.map((k) => k.values),
        Math.round(options.sparsity! * total(pool)),
      );
    const extra =
      options.pattern !== undefined
        ? { method: options.method, pattern: options.pattern }
        : { method: options.method, scope: options.scope, target: options.sparsity };
    return finish(model, editable, kernels, {
      ...extra,
      ...(left.length ? { skipped: left } : {}),
      ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
    });
  },
};

interface KernelRef {
  /** The weight: "fc_1/kernel". */
  name: string;
  layer: string;
  shape: readonly number[];
  depthwise: boolean;
}

interface Kernel extends KernelRef {
  /** The values to edit in place; result() writes them. */
  values: Float32Array;
}

/**
 * How one kernel is pruned: N:M, or to a sparsity, alone or in the global pool (scope global, no override).
 * `overridden`: an override block gave the layer these options.
 */
type KernelPlan =
  | { kind: 'pattern'; pattern: string; n: number; m: number; overridden: boolean; at?: string }
  | { kind: 'sparsity'; sparsity: number; pooled: boolean; overridden: boolean };

/**
 * Each kernel with its layer's plan. Kernels of skipped layers are left out (their layers go to
 * `skippedLayers`), and so are depthwise kernels given a pattern (they reduce over the spatial window only):
 * their names are `left`.
 */
function planKernels<K extends KernelRef>(
  kernels: readonly K[],
  options: PruneOptions,
  optionsFor: LayerOptions<PruneOptions>,
  skippedLayers: Set<string>,
): { kernels: (K & { plan: KernelPlan })[]; left: string[] } {
  const out: (K & { plan: KernelPlan })[] = [];
  const left: string[] = [];
  for (const k of kernels) {
    const o = optionsFor(k.layer);
    if (o === null) {
      skippedLayers.add(k.layer);
      continue;
    }
    // The resolver hands out the entry's own options object for a layer no block touched.
    const overridden = o !== options;
    if (o.pattern !== undefined) {
      if (k.depthwise) {
        left.push(k.name);
        continue;
      }
      const at = patternAt.get(o);
      out.push({
        ...k,
        plan: {
          kind: 'pattern',
          pattern: o.pattern,
          ...parsePattern(o.pattern),
          overridden,
          ...(at === undefined ? {} : { at }),
        },
      });
    } else {
      out.push({
        ...k,
        plan: { kind: 'sparsity', sparsity: o.sparsity!, pooled: o.scope === 'global' && !overridden, overridden },
      });
    }
  }
  return { kernels: out, left };
}

/** Throws when the pattern's M does not divide the kernel's input dimension, naming the option that set it. */
function checkPattern(k: KernelRef, p: Extract<KernelPlan, { kind: 'pattern' }>, ctx: PassContext): void {
  const dim = k.shape[k.shape.length - 2]!;
  if (dim % p.m === 0) return;
  const where =
    !p.overridden && ctx.place
      ? `\`${formatDataPath(ctx.place.path)}.pattern\` (at ${ctx.place.at('pattern')})`
      : p.overridden
        ? `the override's prune pattern${p.at ? ` (at ${p.at})` : ''}`
        : 'the prune pattern';
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `${where} "${p.pattern}" does not fit layer ${k.layer}: its kernel ${k.name} has shape [${k.shape.join(', ')}] and its input dimension ${dim} is not a multiple of ${p.m}. Choose an M that divides every pruned layer's input dimension, or use \`sparsity\`.`,
  );
}

interface EditableWeights {
  weights: { spec: WeightSpec; values?: Float32Array }[];
  /** The model with the edited values; every weight float32 unless it was int32 or bool. */
  result(): StoredModel;
}

/**
 * The weights as float32 arrays to edit in place. A model of plain float32 weights is copied once and edited
 * through views of the copy: on large models a fresh buffer costs more than the pruning itself, so
 * decode + encode (two copies) is only used when some weight is quantized (it is decoded to float32) or
 * misaligned.
 */
function editableWeights(model: StoredModel): EditableWeights {
  let offset = model.weightData.byteOffset;
  const direct = model.weightSpecs.every((spec) => {
    const ok = !spec.quantization && (spec.dtype !== 'float32' || offset % 4 === 0);
    offset += weightByteLength(spec);
    return ok;
  });
  if (!direct) {
    const decoded = decodeWeights(model);
    return {
      weights: decoded.map((w) => ({
        spec: w.spec,
        ...(w.values instanceof Float32Array && w.spec.dtype === 'float32' ? { values: w.values } : {}),
      })),
      result: () => encodeWeights(model.json, decoded),
    };
  }
  const data = model.weightData.slice();
  let off = 0;
  const weights = model.weightSpecs.map((spec) => {
    const len = weightByteLength(spec);
    const w = { spec, ...(spec.dtype === 'float32' ? { values: new Float32Array(data.buffer, off, len / 4) } : {}) };
    off += len;
    return w;
  });
  return { weights, result: () => ({ json: model.json, weightSpecs: model.weightSpecs, weightData: data }) };
}

export function parsePattern(pattern: string): { n: number; m: number } {
  const match = /^(\d+):(\d+)$/.exec(pattern);
  if (!match) throw new Error(`bad N:M pattern ${pattern}`); // the schema's pattern prevents this
  return { n: Number(match[1]), m: Number(match[2]) };
}

/** The float kernels of Dense, Conv2D and DepthwiseConv2D layers, by weight name and the topology's classes. */
function prunableKernels(json: StoredModel['json'], weights: EditableWeights['weights']): Kernel[] {
  const classes = layerClasses(json.modelTopology);
  const out: Kernel[] = [];
  for (const { spec, values } of weights) {
    const match = KERNEL_NAME.exec(spec.name);
    if (!match || !values) continue;
    const cls = classes.get(match[1]!);
    if (cls === undefined || !PRUNABLE_CLASSES.has(cls)) continue;
    if ((cls === 'DepthwiseConv2D') !== (match[2] !== undefined)) continue;
    out.push({ name: spec.name, layer: match[1]!, shape: spec.shape, depthwise: cls === 'DepthwiseConv2D', values });
  }
  return out;
}

/** Throws when a kernel to prune holds NaN: its magnitudes cannot be ranked. */
function checkFinite(k: Kernel): void {
  const bits = new Uint32Array(k.values.buffer, k.values.byteOffset, k.values.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & 0x7fffffff) > 0x7f800000) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `the weight ${k.name} holds NaN values, so its magnitudes cannot be ranked; fix the model before pruning.`,
      );
    }
  }
}

/** Layer name → class name for every layer in a layers-model topology, nested models included. */
function layerClasses(topology: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const o = node as Record<string, unknown>;
    const config = o.config as Record<string, unknown> | undefined;
    if (typeof o.class_name === 'string' && typeof config?.name === 'string') out.set(config.name, o.class_name);
    for (const v of Object.values(o)) if (typeof v === 'object') visit(v);
  };
  visit(topology);
  return out;
}

function total(kernels: readonly Kernel[]): number {
  return kernels.reduce((n, k) => n + k.values.length, 0);
}

/**
 * The model out, with the achieved sparsity per pruned kernel and overall. The pruned kernels are recorded
 * in the model's metadata, so later training passes keep their zeros (src/passes/constraints.ts).
 */
function finish(
  input: StoredModel,
  editable: EditableWeights,
  kernels: (Kernel & { plan: KernelPlan })[],
  extra: Record<string, unknown>,
) {
  const layers: LayerSparsity[] = kernels.map((k) => {
    const v = k.values;
    const zeros = countZeros(v);
    const p = k.plan;
    const own = !p.overridden ? {} : p.kind === 'pattern' ? { pattern: p.pattern } : { target: p.sparsity };
    return { layer: k.name, sparsity: v.length ? zeros / v.length : 0, zeros, total: v.length, ...own };
  });
  const zeros = layers.reduce((n, l) => n + l.zeros, 0);
  const all = layers.reduce((n, l) => n + l.total, 0);
  const result = editable.result();
  const out = {
    ...result,
    json: withRecordedWeights(
      result.json,
      'prunedWeights',
      kernels.map((k) => k.name),
    ),
  };
  return {
    model: out,
    stats: {
      ...extra,
      overall: { sparsity: all ? zeros / all : 0, zeros, total: all },
      layers,
      weightBytesBefore: input.weightData.byteLength,
      weightBytesAfter: out.weightData.byteLength,
    },
  };
}

/**
 * The zeros of v; -0 (a negative weight times a zero mask) is stored as +0: the same value, cleaner bytes.
 * On the bit patterns and without branches: zeros at random positions would mispredict.
 */
function countZeros(v: Float32Array): number {
  const bits = new Int32Array(v.buffer, v.byteOffset, v.length);
  let nonZero = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    // 1 unless the magnitude bits are 0 (the negation of a positive int32 is negative).
    const nz = -(u & 0x7fffffff) >>> 31;
    bits[i] = u & -nz;
    nonZero += nz;
  }
  return bits.length - nonZero;
}

/**
 * Sets exactly min(k, n) of the smallest |v| over the arrays (taken as one sequence) to zero: everything
 * below the k-th smallest magnitude, then values equal to it in order until k are zero. Values already
 * zero count among the smallest.
 *
 * The threshold comes from a radix selection on the bits: with the sign cleared, the IEEE 754 bit patterns
 * of float32 values order exactly as their magnitudes. One histogram of the top 16 bits finds the bucket
 * holding the k-th smallest, a second of the low 15 bits within that bucket finds its exact value: two
 * linear passes, no copy and no sort.
 */
export function pruneSmallest(arrays: readonly Float32Array[], k: number): void {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  if (k <= 0 || n === 0) return;
  if (k >= n) {
    for (const a of arrays) a.fill(0);
    return;
  }
  const views = arrays.map((a) => new Uint32Array(a.buffer, a.byteOffset, a.length));
  const high = new Uint32Array(1 << 16);
  for (const u of views) for (let i = 0; i < u.length; i++) high[(u[i]! & 0x7fffffff) >>> 15]!++;
  let below = 0;
  let bucket = 0;
  while (below + high[bucket]! < k) below += high[bucket++]!;
  const low = new Uint32Array(1 << 15);
  for (const u of views) {
    for (let i = 0; i < u.length; i++) {
      const m = u[i]! & 0x7fffffff;
      if (m >>> 15 === bucket) low[m & 0x7fff]!++;
    }
  }
  let rest = 0;
  while (below + low[rest]! < k) below += low[rest++]!;
  const threshold = ((bucket << 15) | rest) >>> 0;
  let ties = k - below;
  for (const u of views) ties = zeroBelow(new Int32Array(u.buffer, u.byteOffset, u.length), threshold, ties);
}

/**
 * Zeroes (+0) every value whose magnitude bits are below `threshold`, and the first `ties` equal to it;
 * returns the ties left. The common case is a mask, not a branch: which values fall below is random.
 */
function zeroBelow(bits: Int32Array, threshold: number, ties: number): number {
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    const m = u & 0x7fffffff;
    // m − threshold < 0 exactly when m < threshold (both below 2^31): an all-ones mask, else none.
    bits[i] = u & ~((m - threshold) >> 31);
    if (m === threshold && ties > 0) {
      bits[i] = 0;
      ties--;
    }
  }
  return ties;
}

/**
 * N:M along the input dimension: a kernel [..., D, O] (Dense [in, out], Conv2D [kh, kw, in, out]) holds, for
 * each leading position and output o, D weights strided by O; in each run of M of them the N largest
 * magnitudes stay (the earlier one on a tie) and the rest become zero.
 */
export function pruneNM(v: Float32Array, shape: readonly number[], n: number, m: number): void {
  const d = shape[shape.length - 2]!;
  const o = shape[shape.length - 1]!;
  const outer = v.length / (d * o);
  if (m === 4) {
    pruneN4(new Int32Array(v.buffer, v.byteOffset, v.length), outer, d, o, n);
    return;
  }
  if (m <= 16) {
    pruneNMSmall(new Int32Array(v.buffer, v.byteOffset, v.length), outer, d, o, n, m);
    return;
  }
  const mags = new Float64Array(m);
  const order = new Int32Array(m);
  // Groups are visited block by block (M consecutive rows of O, contiguous), so a block stays in cache.
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += m) {
      const base = (lead * d + g) * o;
      for (let col = 0; col < o; col++) {
        for (let i = 0; i < m; i++) {
          mags[i] = Math.abs(v[base + i * o + col]!);
          order[i] = i;
        }
        // Order the group by magnitude, descending, earlier positions first on ties.
        order.sort((x, y) => mags[y]! - mags[x]! || x - y);
        for (let i = n; i < m; i++) v[base + order[i]! * o + col] = 0;
      }
    }
  }
}

/** pruneNMSmall for M = 4, unrolled: six comparisons give the four ranks. */
function pruneN4(bits: Int32Array, outer: number, d: number, o: number, n: number): void {
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += 4) {
      const b0 = (lead * d + g) * o;
      const b1 = b0 + o;
      const b2 = b1 + o;
      const b3 = b2 + o;
      for (let col = 0; col < o; col++) {
        const u0 = bits[b0 + col]!;
        const u1 = bits[b1 + col]!;
        const u2 = bits[b2 + col]!;
        const u3 = bits[b3 + col]!;
        const a0 = u0 & 0x7fffffff;
        const a1 = u1 & 0x7fffffff;
        const a2 = u2 & 0x7fffffff;
        const a3 = u3 & 0x7fffffff;
        // cij = 1 when value j is larger than value i (i < j), from the sign of the difference.
        const c01 = (a0 - a1) >>> 31;
        const c02 = (a0 - a2) >>> 31;
        const c03 = (a0 - a3) >>> 31;
        const c12 = (a1 - a2) >>> 31;
        const c13 = (a1 - a3) >>> 31;
        const c23 = (a2 - a3) >>> 31;
        const r0 = c01 + c02 + c03;
        const r1 = 1 - c01 + c12 + c13;
        const r2 = 2 - c02 - c12 + c23;
        const r3 = 3 - c03 - c13 - c23;
        bits[b0 + col] = u0 & ((r0 - n) >> 31);
        bits[b1 + col] = u1 & ((r1 - n) >> 31);
        bits[b2 + col] = u2 & ((r2 - n) >> 31);
        bits[b3 + col] = u3 & ((r3 - n) >> 31);
      }
    }
  }
}

/**
 * pruneNM for M ≤ 16 on the float32 bit patterns, whose magnitude bits (sign cleared) order as the
 * magnitudes do: value i of a group keeps its place in the stable descending order, its rank, = the number
 * of values larger than it plus those equal to it at an earlier position; it stays when its rank is below N.
 * Counting and masking need no branches, where sorting four random magnitudes mispredicts half its branches.
 */
function pruneNMSmall(bits: Int32Array, outer: number, d: number, o: number, n: number, m: number): void {
  const group = new Int32Array(m);
  for (let lead = 0; lead < outer; lead++) {
    for (let g = 0; g < d; g += m) {
      const base = (lead * d + g) * o;
      for (let col = 0; col < o; col++) {
        for (let i = 0; i < m; i++) group[i] = bits[base + i * o + col]! & 0x7fffffff;
        for (let i = 0; i < m; i++) {
          const mi = group[i]!;
          let rank = 0;
          for (let j = 0; j < i; j++) rank += group[j]! >= mi ? 1 : 0;
          for (let j = i + 1; j < m; j++) rank += group[j]! > mi ? 1 : 0;
          const at = base + i * o + col;
          // rank − n < 0: keep (all-ones mask); else +0.
          bits[at] = bits[at]! & ((rank - n) >> 31);
        }
      }
    }
  }
}

/** s_t = s_f + (s_i − s_f)(1 − t/S)^power (Zhu & Gupta, 2017). */
export function scheduledSparsity(final: number, s: PruneSchedule, t: number): number {
  if (t >= s.steps) return final;
  return final + (s.initialSparsity - final) * (1 - t / s.steps) ** s.power;
}

async function applyScheduled(
  model: StoredModel,
  options: PruneOptions,
  schedule: PruneSchedule,
  optionsFor: LayerOptions<PruneOptions>,
  ctx: PassContext,
) {
  const { tf } = await ctx.engine();
  const { toLayersModel } = await import('../../engine/runtime.js');
  const ds = await ctx.data('train');
  const layers = await toLayersModel(tf, model);
  try {
    return await trainPruning(tf, layers, model, options, schedule, optionsFor, ds, ctx);
  } finally {
    layers.dispose();
  }
}

/** The schedule's training on `layers` (disposed by the caller), with each kernel pruned to its layer's plan. */
async function trainPruning(
  tf: Tf,
  layers: TF.LayersModel,
  model: StoredModel,
  options: PruneOptions,
  schedule: PruneSchedule,
  optionsFor: LayerOptions<PruneOptions>,
  ds: Dataset,
  ctx: PassContext,
) {
  const { fromLayersModel } = await import('../../engine/runtime.js');
  const { trainModel } = await import('../../engine/train.js');
  const { compressibleKernels } = await import('../constraints.js');
  // The kernels to prune, each with its layer's plan (before freezing: a frozen layer has no trainable weights).
  const refs = compressibleKernels(layers).flatMap((variable) => {
    const match = KERNEL_NAME.exec(variable.originalName);
    return match
      ? [
          {
            name: variable.originalName,
            layer: match[1]!,
            shape: variable.shape as number[],
            depthwise: match[2] !== undefined,
            variable,
          },
        ]
      : [];
  });
  const skippedLayers = new Set<string>();
  const { kernels: planned, left } = planKernels(refs, options, optionsFor, skippedLayers);
  for (const k of planned) if (k.plan.kind === 'pattern') checkPattern(k, k.plan, ctx);
  const variables = planned.map((k) => k.variable);
  const masks: (TF.Tensor | undefined)[] = variables.map(() => undefined);
  const final = options.sparsity!;
  let pruningSteps = 0;
  let current = 0;
  // Prunes the current weights to the sparsity `at(target)` of each kernel's final target (weights already
  // zero rank lowest, so the masks only grow) and keeps every zero masked from then on. Patterns are
  // re-imposed as they are.
  const pruneTo = (at: (target: number) => number) => {
    pruningSteps++;
    current = at(final);
    const values = variables.map((v) => new Float32Array(v.read().dataSync() as Float32Array));
    const pool: Float32Array[] = [];
    planned.forEach(({ plan: p, shape }, i) => {
      const a = values[i]!;
      if (p.kind === 'pattern') pruneNM(a, shape, p.n, p.m);
      else if (p.pooled) pool.push(a);
      else pruneSmallest([a], Math.round(at(p.sparsity) * a.length));
    });
    if (pool.length) pruneSmallest(pool, Math.round(current * pool.reduce((s, a) => s + a.length, 0)));
    variables.forEach((variable, i) => {
      masks[i]?.dispose();
      masks[i] = tf.tidy(() => {
        const w = tf.tensor(values[i]!, variable.shape as number[], 'float32');
        variable.write(w);
        return tf.notEqual(w, 0).cast('float32');
      });
    });
  };
  const frozen = freezeSkipped(layers, optionsFor);
  let step = 0;
  try {
    if (frozen.layers.length > 0 && layers.trainableWeights.length === 0) {
      // Every layer with weights is skipped: nothing to prune or train (TF.js refuses an optimizer step without variables).
      return {
        model,
        stats: {
          method: options.method,
          frozen: frozen.layers,
          note: 'every layer with weights is skipped by an override: nothing to prune',
        },
      };
    }
    pruneTo(() => schedule.initialSparsity);
    const batches = Math.ceil(ds.count / options.batchSize!);
    const result = await trainModel(tf, layers, ds, {
      epochs: Math.ceil(schedule.steps / Math.max(1, batches)),
      maxBatches: schedule.steps,
      batchSize: options.batchSize!,
      learningRate: options.learningRate!,
      optimizer: options.optimizer!,
      seed: options.seed!,
      signal: ctx.signal,
      afterBatch: () => {
        step++;
        // The optimizer step moved pruned weights too: zero them first, so they rank lowest when re-pruning.
        for (const [i, variable] of variables.entries()) {
          tf.tidy(() => {
            variable.write(tf.mul(variable.read(), masks[i]!));
          });
        }
        if (step % schedule.frequency === 0 || step === schedule.steps)
          pruneTo((target) => scheduledSparsity(target, schedule, step));
      },
      onProgress: (p) =>
        ctx.progress(
          `step ${step}/${schedule.steps} sparsity ${current.toFixed(3)} loss ${p.loss.toFixed(4)} eta ${Math.ceil(p.etaSeconds)}s`,
          p.fraction,
        ),
    });
    frozen.restore();
    const trained = await fromLayersModel(tf, layers);
    // Metadata earlier passes recorded stays with the model.
    const meta = model.json.userDefinedMetadata;
    const editable = editableWeights(
      meta === undefined ? trained : { ...trained, json: { ...trained.json, userDefinedMetadata: meta } },
    );
    const { kernels } = planKernels(prunableKernels(model.json, editable.weights), options, optionsFor, new Set());
    kernels.forEach(checkFinite);
    return finish(model, editable, kernels, {
      method: options.method,
      scope: options.scope,
      target: final,
      schedule: { steps: step, pruningSteps, epochLosses: result.epochLosses, trainSamples: ds.count },
      ...(left.length ? { skipped: left } : {}),
      ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
      ...(frozen.layers.length ? { frozen: frozen.layers } : {}),
    });
  } finally {
    frozen.dispose();
    masks.forEach((m) => m?.dispose());
  }
}
