/**
 * lowrank: replaces a Dense or Conv2D layer by two thinner layers whose kernels are the factors of a
 * truncated SVD of its kernel, W ≈ A·B with A m×r and B r×n: fewer parameters and multiply-adds whenever
 * r·(m + n) < m·n, in an ordinary LayersModel that stock TF.js loads and runs (no special loader).
 *
 *  - Dense `d` (kernel in×out): `d_lr1` Dense(r, no bias, linear) → `d_lr2` Dense(out) with d's bias and
 *    activation. Exact for r = rank(W).
 *  - Conv2D `c` (kernel kh×kw×cin×cout): the SVD of the kernel read as a (kh·kw·cin)×cout matrix (the
 *    channel decomposition of Zhang et al. 2015, "Accelerating very deep convolutional networks"):
 *    `c_lr1` Conv2D(r filters, kh×kw, c's strides, padding and dilation, no bias, linear) → `c_lr2`
 *    Conv2D(cout filters, 1×1) with c's bias and activation. Every output pixel is the same patch·A·B, so
 *    it is the same function at full rank, and parameters and MACs per output pixel both go from
 *    kh·kw·cin·cout to r·(kh·kw·cin + cout). (A spatial split, kh×1 then 1×kw, saves less on the small
 *    kernels of this project's models and needs an iterative solver; the channel split is one SVD.)
 *
 * √S goes to both factors (A = U_r·S_r^{1/2}, B = S_r^{1/2}·V_rᵀ, src/algorithms/svd.ts), so the two layers'
 * weights, and what a finetune does to them, are of the same scale. Constraints of the original kernel are
 * dropped (they constrain W, not its factors); regularisers, initialisers, dtype and `trainable` carry over.
 *
 * The rank: `rank: r` as given, `ratio: ρ` the largest rank whose layer keeps at most ρ of its parameters
 * (kernel factors and bias), or `energy: e` the smallest rank keeping e of Σσ². A layer is only replaced
 * when the factors are really smaller (r·(m + n) < m·n); otherwise it stays, with the reason in the stats.
 * With `layers`, exactly those layers (by name) are decomposed and a layer the pass cannot handle is an
 * error; without it, every Dense and Conv2D layer is, and other layers with a kernel are listed as skipped.
 *
 * Per-layer overrides set the rank rule of the layers they match (a block's `rank` replaces the entry's
 * `ratio`, and so on) or `skip` them: a skipped layer stays whole, and with `layers` a layer is decomposed
 * only when it is named there and not skipped. A fixed rank that fits none of the layers it applies to is
 * an error pointing at where it was written (the entry or the override block); one that fits some skips
 * the others, as without overrides.
 *
 * Pure JS (float64 SVD, float32 factors): no TF.js, the same bytes on every backend. Weights that arrive
 * quantized come out float32. Factors are dense: a pruned or clustered kernel that is decomposed leaves
 * the record of pruned/clustered weights (a later finetune trains its factors freely).
 */
import { McbError } from '../../errors.js';
import {
  decodeWeights,
  layerClass,
  paramCount,
  passTopology,
  rebuildModel,
  Topology,
  TopologyError,
  tupleOf,
  weightProblems,
  WeightTable,
  type DecodedWeight,
  type LayerSpec,
  type ModelLayer,
  type StoredModel,
} from '../../model/index.js';
import {
  chooseRank,
  keptEnergyFraction,
  lowRankFactors,
  reconstructionError,
  spectrum,
  type RankRule,
} from '../../algorithms/svd.js';
import { formatDataPath, suggest } from '../../recipe/index.js';
import { recordedWeights, type RecordedKind } from '../constraints.js';
import { definePass, optionsByLayer, type LayerOptions, type OptionsPlace, SKIPPED_BY_OVERRIDE } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export type LowrankOptions = RankRule & {
  /** Exactly these layers (names as in model.json); undefined: every Dense and Conv2D layer. */
  layers?: string[];
};

export interface DecomposedLayer {
  layer: string;
  className: 'Dense' | 'Conv2D';
  /** The kernel as a matrix: [in, out] for Dense, [kh·kw·cin, cout] for Conv2D. */
  matrix: [number, number];
  rank: number;
  /** The layers that replace it. */
  into: [string, string];
  /** Weights of the layer (kernel and bias) before, and of the two layers after. */
  paramsBefore: number;
  paramsAfter: number;
  /** Σ_{i≤r} σ_i² / Σ σ_i². */
  energyKept: number;
  /** ‖W − A·B‖_F / ‖W‖_F, of the stored float32 factors. */
  relativeError: number;
  /** The rank rule an override block set for this layer; absent when it took the pass entry's. */
  override?: RankRule;
}

export interface SkippedLayer {
  layer: string;
  className: string;
  reason: string;
}

/** Whether lowrank factors the kernel of a layer of this class (the catalogue's Dense and Conv2D). */
function factored(className: string | undefined): boolean {
  return className !== undefined && layerClass(className)?.lowrank === true;
}

/** Why lowrank leaves a layer of this class alone, for other classes with a kernel (DepthwiseConv2D, SeparableConv2D). */
function whyNotFactored(className: string): string | undefined {
  const why = layerClass(className)?.lowrank;
  return typeof why === 'string' ? why : undefined;
}

const RULES = ['rank', 'ratio', 'energy'] as const;

/**
 * Where each set of resolved options was written (not in the options: they are hashed): the pass entry's,
 * or for a layer's own options the place the override resolver gave, whose `at` points at the block that
 * set each option. apply() errors about a layer's rank read it from here.
 */
const written = new WeakMap<LowrankOptions, OptionsPlace>();

export const lowrank = definePass<LowrankOptions>({
  meta: {
    name: 'lowrank',
    version: 1,
    summary: 'replace Dense / Conv2D layers by two thinner ones from a truncated SVD of their kernels',
    docs: DOCS,
    schema,
    perLayer: ['rank', 'ratio', 'energy'],
    exclusiveOptions: [['rank', 'ratio', 'energy']],
    models: ['layers'],
    sensitivity: { option: 'ratio', candidates: [0.5, 0.25, 0.125] },
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    const given = RULES.filter((k) => raw[k] !== undefined);
    if (given.length !== 1) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        given.length === 0
          ? `${name} needs a rank rule at ${place.at()}; set exactly one of \`rank: r\` (a fixed rank), \`ratio: 0.25\` (fraction of each layer's parameters kept) or \`energy: 0.95\` (fraction of the squared singular values kept), e.g. \`- lowrank: { ratio: 0.25 }\`.`
          : `${name} sets ${given.join(' and ')} at ${place.at(given[1])}; keep exactly one of rank, ratio and energy.`,
      );
    }
    const rule = given[0]!;
    const value = raw[rule];
    const bad = (what: string): never => {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, rule])}\` must be ${what} (got ${JSON.stringify(value)}) at ${place.at(rule)}.`,
      );
    };
    if (typeof value !== 'number' || !Number.isFinite(value))
      bad(rule === 'rank' ? 'a positive integer' : 'a number between 0 and 1');
    const v = value as number;
    if (rule === 'rank' && (!Number.isInteger(v) || v < 1))
      bad('a positive integer (the rank of each factorisation, below min(in, out) of every layer it is applied to)');
    if (rule !== 'rank' && !(v > 0 && v < 1))
      bad(
        `a number greater than 0 and less than 1 (the fraction of ${rule === 'ratio' ? "each layer's parameters" : 'the squared singular values'} kept)`,
      );
    const layers = raw.layers;
    if (
      layers !== undefined &&
      (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => typeof l === 'string' && l !== ''))
    ) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, 'layers'])}\` must be a non-empty list of layer names (got ${JSON.stringify(layers)}) at ${place.at('layers')}.`,
      );
    }
    const options = {
      [rule]: v,
      ...(layers === undefined ? {} : { layers: [...(layers as string[])] }),
    } as LowrankOptions;
    written.set(options, place);
    return options;
  },

  layersAfter(layers, options, layerOptions) {
    return layersAfterDecomposing(layers, options, layerOptions);
  },

  async apply(model, options, ctx) {
    return decompose(model, options, ctx.place, (m) => ctx.progress(m), optionsByLayer(ctx, options));
  },
});

/**
 * Planning: every layer lowrank may decompose (a Dense or Conv2D, named in `layers` when given, not skipped)
 * is followed by its two factor layers, and its consumers read the second, as after a decomposition. A
 * superset: whether the rank rule really makes a layer smaller depends on its kernel's shape, which the
 * list does not show, so the original stays listed too (read by nothing, in the prediction).
 */
export function layersAfterDecomposing(
  layers: readonly ModelLayer[],
  options: LowrankOptions,
  layerOptions: LayerOptions<LowrankOptions>,
): ModelLayer[] {
  const mayDecompose = (l: ModelLayer) =>
    factored(l.className) &&
    (options.layers === undefined || options.layers.includes(l.name)) &&
    layerOptions(l.name) !== null;
  const tail = new Map(layers.filter(mayDecompose).map((l) => [l.name, factorNames(l.name)[1]]));
  return layers.flatMap((l) => {
    const read = l.inbound?.some((n) => tail.has(n)) ? { ...l, inbound: l.inbound.map((n) => tail.get(n) ?? n) } : l;
    if (!tail.has(l.name)) return [read];
    const [first, second] = factorNames(l.name);
    return [
      read,
      { name: first, className: l.className!, ...(read.inbound ? { inbound: read.inbound } : {}) },
      { name: second, className: l.className!, inbound: [first] },
    ];
  });
}

/** The pass itself, synchronous and engine-free (apply() only wraps it). `layerOptions`: a layer's options, null when an override skips it. */
export function decompose(
  model: StoredModel,
  options: LowrankOptions,
  place?: OptionsPlace,
  progress: (message: string) => void = () => {},
  layerOptions: LayerOptions<LowrankOptions> = () => options,
): { model: StoredModel; stats: Record<string, unknown> } {
  const rule = RULES.find((k) => k in options)!;
  // The entry's options were written where the executor says (their object may be a copy); a layer's own
  // options where the resolver that made them said.
  const where = (option: string, of: LowrankOptions = options): { path: string; at: string } | undefined => {
    const p = (of === options ? place : undefined) ?? written.get(of);
    return p && { path: formatDataPath([...p.path, option]), at: p.at(option) };
  };
  const optionText = (option: string) => {
    const p = where(option);
    return p ? `\`${p.path}\` at ${p.at}` : `\`${option}\``;
  };
  const passAt = place ? ` (the lowrank pass at ${place.at()})` : '';

  const topology = passTopology(model, 'lowrank', passAt, 'which has no layers to replace');
  const problems = weightProblems(topology, model.weightSpecs);
  if (problems.length) {
    throw new McbError(
      'MCB_MODEL_INVALID',
      `lowrank cannot match the model's weights to its layers${passAt}: ${problems.slice(0, 3).join('; ')}. Export the model again with TF.js \`model.save()\`, or leave lowrank out for this model.`,
    );
  }

  // Which layers: the named ones (each must exist and be decomposable), or every Dense and Conv2D.
  const all = topology.layers();
  const supported = all.filter((l) => factored(l.className)).map((l) => l.name);
  const skipped: SkippedLayer[] = [];
  let candidates: string[];
  const explicit = options.layers !== undefined;
  if (explicit) {
    candidates = [];
    for (const name of options.layers!) {
      if (!topology.has(name)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${JSON.stringify(name)}, which the model does not have${suggest(name, topology.names())}; the layers lowrank can decompose are ${listNames(supported)}.`,
        );
      }
      const cls = topology.className(name);
      const why = factored(cls)
        ? unsupportedConfig(topology, name)
        : (whyNotFactored(cls) ?? 'lowrank decomposes Dense and Conv2D layers only');
      if (why !== undefined) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${name} (${cls}), which lowrank cannot decompose: ${why}. Remove it from \`layers\`; the layers lowrank can decompose are ${listNames(supported)}.`,
        );
      }
      if (!candidates.includes(name)) candidates.push(name);
    }
  } else {
    candidates = [];
    for (const l of all) {
      if (factored(l.className)) {
        const why = unsupportedConfig(topology, l.name);
        if (why === undefined) candidates.push(l.name);
        else skipped.push({ layer: l.name, className: l.className, reason: why });
      } else if (
        whyNotFactored(l.className) !== undefined ||
        model.weightSpecs.some((s) => /(^|\/)kernel$/.test(s.name) && s.name.split('/').at(-2) === l.name)
      ) {
        skipped.push({
          layer: l.name,
          className: l.className,
          reason: whyNotFactored(l.className) ?? 'lowrank decomposes Dense and Conv2D layers only',
        });
      }
    }
  }

  const weights = new WeightTable(decodeWeights(model, { share: true }));
  const kernelOf = (name: string) => {
    try {
      return weights.floats(name, 'kernel');
    } catch (e) {
      if (e instanceof TopologyError)
        throw new McbError('MCB_MODEL_INVALID', `lowrank cannot read layer ${name}${passAt}: ${e.message}`);
      throw e;
    }
  };

  // Each layer's rank rule (an override block's, or the entry's); a layer an override skips stays whole.
  const ruleOf = new Map<string, LowrankOptions>();
  candidates = candidates.filter((name) => {
    const o = layerOptions(name);
    if (o === null) skipped.push({ layer: name, className: topology.className(name), reason: SKIPPED_BY_OVERRIDE });
    else ruleOf.set(name, o);
    return o !== null;
  });

  // A fixed rank must be below min(m, n) of each layer it is applied to: an error for a named layer; for the
  // layers taken implicitly, a skip, unless it fits none of them (then the option is wrong, not the layers).
  // Each set of options (the entry's, an override's) is checked against the layers it applies to.
  const matrixOf = (name: string): [number, number] => {
    // Rows: every axis but the output channels' (Dense [in, out], Conv2D [kh·kw·cin, cout]).
    const shape = weights.require(name, 'kernel').spec.shape;
    return [shape.slice(0, -1).reduce((a, b) => a * b, 1), shape.at(-1)!];
  };
  const minOf = (name: string) => Math.min(...matrixOf(name));
  const tooBig = new Set<string>();
  for (const [o, names] of groupByOptions(candidates, ruleOf)) {
    if (!('rank' in o)) continue;
    const r = o.rank;
    const big = names.filter((name) => r >= minOf(name));
    if (big.length && (explicit || big.length === names.length)) {
      // A named layer it does not fit, or (taken implicitly) the layer that takes the largest ranks.
      const name = explicit ? big[0]! : big.reduce((a, b) => (minOf(b) > minOf(a) ? b : a));
      const [m, n] = matrixOf(name);
      const max = Math.floor((m * n - 1) / (m + n));
      const p = where('rank', o);
      const own = o !== options;
      // A layer's own options carry the override's position, not its data path: name the block by where it is.
      const option = own
        ? `the override's \`rank: ${r}\`${p ? ` at ${p.at}` : ''}`
        : p
          ? `\`${p.path}\` (${r}, at ${p.at})`
          : `\`rank\` (${r})`;
      const which =
        explicit || names.length === 1
          ? `layer ${name}`
          : `any layer ${own || names.length < candidates.length ? 'it applies to' : 'of the model'}: the largest, layer ${name}`;
      const fix = explicit
        ? `lower \`rank\`, or remove ${name} from \`layers\``
        : own
          ? 'lower it'
          : 'lower `rank`, or name the layers to decompose with `layers`';
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${option} is not below min(m, n) of ${which} (${topology.className(name)}, kernel ${m}×${n}, min ${Math.min(m, n)}), which takes ranks 1..${Math.min(m, n) - 1}${max >= 1 ? ` (1..${max} make it smaller)` : ' (none makes it smaller)'}; ${fix}.`,
      );
    }
    for (const name of big) {
      const [m, n] = matrixOf(name);
      skipped.push({
        layer: name,
        className: topology.className(name),
        reason: `rank ${r} is not below min(${m}, ${n}) = ${Math.min(m, n)}`,
      });
      tooBig.add(name);
    }
  }
  candidates = candidates.filter((name) => !tooBig.has(name));

  const decomposed: DecomposedLayer[] = [];
  const replaced = new Map<string, DecodedWeight[]>();
  for (const name of candidates) {
    const cls = topology.className(name) as 'Dense' | 'Conv2D';
    const kernel = weights.require(name, 'kernel');
    const values = kernelOf(name);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (x - x !== 0)
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight ${kernel.spec.name} holds ${x}${passAt}; a model with non-finite weights cannot be decomposed. Retrain it or check the steps before the lowrank pass.`,
        );
    }
    const [m, n] = matrixOf(name);
    const config = topology.config(name);
    const bias = config.use_bias === false ? undefined : weights.get(name, 'bias');
    const biasCount = bias ? n : 0;
    const o = ruleOf.get(name)!;
    // rank and ratio need no spectrum to decide; energy does.
    let choice = 'energy' in o ? undefined : chooseRank(o, m, n, biasCount);
    if (choice && 'skip' in choice) {
      skipped.push({ layer: name, className: cls, reason: choice.skip });
      continue;
    }
    progress(`lowrank: SVD of ${name} (${m}×${n})`);
    const s = spectrum(values, m, n);
    choice ??= chooseRank(o, m, n, biasCount, s.energies);
    if ('skip' in choice) {
      skipped.push({ layer: name, className: cls, reason: choice.skip });
      continue;
    }
    const r = choice.rank;
    const f = lowRankFactors(values, s, r);
    const error = reconstructionError(values, f, m, n);
    const [first, second] = factorNames(name);
    const kshape = kernel.spec.shape;
    const prefix = kernel.spec.name.split('/').slice(0, -2).join('/');
    const named = (layer: string, key: string) => `${prefix ? `${prefix}/` : ''}${layer}/${key}`;
    const out: DecodedWeight[] = [
      {
        spec: {
          name: named(first, 'kernel'),
          shape: [...kshape.slice(0, -1), r],
          dtype: 'float32',
        },
        values: f.a,
      },
      {
        // A Conv2D's second factor is a 1×1 convolution.
        spec: { name: named(second, 'kernel'), shape: [...kshape.slice(0, -2).map(() => 1), r, n], dtype: 'float32' },
        values: f.b,
      },
    ];
    if (bias) {
      const { quantization: _q, ...spec } = bias.spec;
      out.push({ spec: { ...spec, name: named(second, 'bias'), dtype: 'float32' }, values: bias.values });
    }
    replaced.set(name, out);
    topology.replaceLayer(name, factorLayers(cls, config, first, second, r));
    decomposed.push({
      layer: name,
      className: cls,
      matrix: [m, n],
      rank: r,
      into: [first, second],
      paramsBefore: choice.paramsBefore,
      paramsAfter: choice.paramsAfter,
      energyKept: keptEnergyFraction(s, r),
      relativeError: s.total > 0 ? Math.sqrt(error / s.total) : 0,
      ...(o === options ? {} : { override: rankRule(o) }),
    });
  }

  const order = new Map(all.map((l, i) => [l.name, i]));
  skipped.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  const paramsBefore = paramCount(model);
  const stats = {
    rule,
    [rule]: 'rank' in options ? options.rank : 'ratio' in options ? options.ratio : options.energy,
    layersDecomposed: decomposed.length,
    layersSkipped: skipped.length,
    paramsBefore,
    decomposed,
    skipped,
  };
  // Nothing replaced: the input passes through byte for byte (quantized weights stay quantized).
  if (decomposed.length === 0) return { model, stats: { ...stats, paramsAfter: paramsBefore } };

  // The weights in manifest order, each replaced layer's kernel and bias giving way to its factors' weights.
  const list: DecodedWeight[] = [];
  for (const wt of weights.list()) {
    const layer = wt.spec.name.split('/').at(-2) ?? '';
    const key = wt.spec.name.split('/').at(-1);
    const factors = replaced.get(layer);
    if (!factors) list.push(wt);
    else if (key === 'kernel') list.push(...factors);
    // (the bias went with the factors)
  }
  let json = topology.toModelJson(model.json);
  // Factors are dense: a decomposed kernel leaves the records that keep pruned zeros and clustered values.
  const gone = new Set(decomposed.map((d) => d.layer));
  const released: string[] = [];
  for (const kind of ['prunedWeights', 'clusteredWeights'] as RecordedKind[]) {
    const names = recordedWeights(json, kind);
    const kept = names.filter((nm) => !gone.has(nm.split('/').at(-2) ?? ''));
    if (kept.length === names.length) continue;
    released.push(...names.filter((nm) => !kept.includes(nm)));
    const meta = json.userDefinedMetadata as { mcbuild: Record<string, unknown> };
    json = { ...json, userDefinedMetadata: { ...meta, mcbuild: { ...meta.mcbuild, [kind]: kept } } };
  }
  const out = rebuildModel({ ...model, json }, topology, list);
  return {
    model: out,
    stats: {
      ...stats,
      paramsAfter: paramCount(out),
      ...(released.length ? { released: [...new Set(released)].sort() } : {}),
    },
  };
}

/** The names of the two layers that replace `layer`. */
function factorNames(layer: string): [string, string] {
  return [`${layer}_lr1`, `${layer}_lr2`];
}

/** Layers grouped by their options object, in first-seen order (the resolver shares one object per merged set). */
function groupByOptions(
  names: readonly string[],
  optionsOf: ReadonlyMap<string, LowrankOptions>,
): Map<LowrankOptions, string[]> {
  const groups = new Map<LowrankOptions, string[]>();
  for (const name of names) {
    const o = optionsOf.get(name)!;
    groups.set(o, [...(groups.get(o) ?? []), name]);
  }
  return groups;
}

/** Just the rank rule of a set of options (without `layers`). */
function rankRule(o: LowrankOptions): RankRule {
  return 'rank' in o ? { rank: o.rank } : 'ratio' in o ? { ratio: o.ratio } : { energy: o.energy };
}

/** Why a Dense / Conv2D layer's config keeps lowrank away from it, or undefined when it can be decomposed. */
function unsupportedConfig(topology: Topology, name: string): string | undefined {
  const c = topology.config(name);
  if (topology.className(name) === 'Conv2D') {
    if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last')
      return `it is ${String(c.data_format)}; lowrank reads channels_last convolutions`;
    if (typeof c.groups === 'number' && c.groups !== 1) return `it is a grouped convolution (groups ${c.groups})`;
    tupleOf(c.kernel_size, 2, 'kernel_size', name);
  }
  return undefined;
}

/** The two layers that replace `cls` layer `config`: r outputs without bias, then the original's outputs, bias and activation. */
function factorLayers(
  cls: 'Dense' | 'Conv2D',
  config: Readonly<Record<string, unknown>>,
  first: string,
  second: string,
  r: number,
): [LayerSpec, LayerSpec] {
  const { batch_input_shape: _b, input_shape: _i, ...rest } = config;
  const common = { kernel_constraint: null };
  const head: Record<string, unknown> = {
    ...config, // keeps the input declaration of a Sequential's first layer
    ...common,
    name: first,
    use_bias: false,
    activation: 'linear',
    bias_regularizer: null,
    bias_constraint: null,
    activity_regularizer: null,
    [layerClass(cls)!.outputChannels!]: r,
  };
  const tail: Record<string, unknown> = {
    ...rest,
    ...common,
    name: second,
    ...(cls === 'Conv2D' ? { kernel_size: [1, 1], strides: [1, 1], padding: 'valid', dilation_rate: [1, 1] } : {}),
  };
  return [
    { class_name: cls, config: head },
    { class_name: cls, config: tail },
  ];
}

function listNames(names: readonly string[]): string {
  if (names.length === 0) return 'none (the model has no Dense or Conv2D layer)';
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown} and ${names.length - 12} more` : shown;
}
