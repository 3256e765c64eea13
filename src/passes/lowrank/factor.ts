/**
 * The surgery on one layer: the SVD of its kernel, the two factor layers that replace it in the topology and
 * their weights; then the model's weight list and its records of pruned and clustered weights after it.
 *
 * √S goes to both factors (A = U_r·S_r^{1/2}, B = S_r^{1/2}·V_rᵀ, src/algorithms/svd.ts), so the two layers'
 * weights, and what a finetune does to them, are of the same scale. Constraints of the original kernel are
 * dropped (they constrain W, not its factors); regularisers, initialisers, dtype and `trainable` carry over.
 */
import {
  chooseRank,
  keptEnergyFraction,
  lowRankFactors,
  reconstructionError,
  spectrum,
  type RankRule,
} from '../../algorithms/svd.js';
import { McbError } from '../../errors.js';
import {
  layerClass,
  TopologyError,
  type DecodedWeight,
  type LayerSpec,
  type Topology,
  type WeightTable,
} from '../../model/index.js';
import { recordedWeights, type RecordedKind } from '../constraints.js';
import { rankRule, type LowrankOptions } from './options.js';
import { factorNames } from './plan.js';
import { kernelMatrix } from './select.js';

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

/**
 * Decomposes layer `name` with its rank rule `o` (`options`: the entry's): replaces it in `topology` by its two
 * factor layers and returns their weights and the layer's stats, or why the rule leaves it whole.
 */
export function factorLayer(
  topology: Topology,
  weights: WeightTable,
  name: string,
  o: LowrankOptions,
  options: LowrankOptions,
  passAt: string,
  progress: (message: string) => void,
): { weights: DecodedWeight[]; decomposed: DecomposedLayer } | { skip: string } {
  const cls = topology.className(name) as 'Dense' | 'Conv2D';
  const kernel = weights.require(name, 'kernel');
  const values = kernelValues(weights, name, passAt);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x - x !== 0)
      throw new McbError(
        'MCB_MODEL_INVALID',
        `weight ${kernel.spec.name} holds ${x}${passAt}; a model with non-finite weights cannot be decomposed. Retrain it or check the steps before the lowrank pass.`,
      );
  }
  const [m, n] = kernelMatrix(weights, name);
  const config = topology.config(name);
  const bias = config.use_bias === false ? undefined : weights.get(name, 'bias');
  const biasCount = bias ? n : 0;
  // rank and ratio need no spectrum to decide; energy does.
  let choice = 'energy' in o ? undefined : chooseRank(o, m, n, biasCount);
  if (choice && 'skip' in choice) return { skip: choice.skip };
  progress(`lowrank: SVD of ${name} (${m}×${n})`);
  const s = spectrum(values, m, n);
  choice ??= chooseRank(o, m, n, biasCount, s.energies);
  if ('skip' in choice) return { skip: choice.skip };
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
  topology.replaceLayer(name, factorLayers(cls, config, first, second, r));
  return {
    weights: out,
    decomposed: {
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
    },
  };
}

/** The weights in manifest order, each replaced layer's kernel and bias giving way to its factors' weights. */
export function withFactors(
  weights: WeightTable,
  replaced: ReadonlyMap<string, readonly DecodedWeight[]>,
): DecodedWeight[] {
  const list: DecodedWeight[] = [];
  for (const wt of weights.list()) {
    const layer = wt.spec.name.split('/').at(-2) ?? '';
    const key = wt.spec.name.split('/').at(-1);
    const factors = replaced.get(layer);
    if (!factors) list.push(wt);
    else if (key === 'kernel') list.push(...factors);
    // (the bias went with the factors)
  }
  return list;
}

/**
 * Factors are dense: a decomposed kernel leaves the records that keep pruned zeros and clustered values.
 * Returns model.json without them, and the weights released (unsorted, possibly repeated).
 */
export function releaseRecords(
  json: Record<string, unknown>,
  gone: ReadonlySet<string>,
): { json: Record<string, unknown>; released: string[] } {
  const released: string[] = [];
  for (const kind of ['prunedWeights', 'clusteredWeights'] as RecordedKind[]) {
    const names = recordedWeights(json, kind);
    const kept = names.filter((nm) => !gone.has(nm.split('/').at(-2) ?? ''));
    if (kept.length === names.length) continue;
    released.push(...names.filter((nm) => !kept.includes(nm)));
    const meta = json.userDefinedMetadata as { mcbuild: Record<string, unknown> };
    json = { ...json, userDefinedMetadata: { ...meta, mcbuild: { ...meta.mcbuild, [kind]: kept } } };
  }
  return { json, released };
}

/** A layer's kernel values; a weight that cannot be read is the model's fault. */
function kernelValues(weights: WeightTable, name: string, passAt: string): Float32Array {
  try {
    return weights.floats(name, 'kernel');
  } catch (e) {
    if (e instanceof TopologyError)
      throw new McbError('MCB_MODEL_INVALID', `lowrank cannot read layer ${name}${passAt}: ${e.message}`);
    throw e;
  }
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
