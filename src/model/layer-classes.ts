/**
 * The catalogue of Keras layer classes mcbuild knows: for each class, how its output shape follows from its
 * inputs, the weights it holds (their keys in `<layer>/<key>`, channel axes and shapes), what the
 * compression passes may do with it, and its compute cost. Every pass and metric that needs to know what a
 * Dense or a DepthwiseConv2D is asks here, so a new class is one entry, not an edit in each of them.
 *
 * A field a class leaves out means "mcbuild does not know this about it": no shape rule, and its shape (and
 * everything after it) cannot be inferred; no `weights`, or a weight without `shape`, and its weights are not
 * checked against its config. Entries are data, except the shape and cost formulas, which are code.
 */
import {
  averageCost,
  averagePoolCost,
  batchNormCost,
  conv2dCost,
  depthwiseConv2dCost,
  denseCost,
  globalAveragePoolCost,
  globalMaxPoolCost,
  maxPoolCost,
  mergeCost,
  separableConv2dCost,
  type CostRule,
} from './layer-costs.js';

/** How a layer's output shape follows from its inputs. */
export type ShapeRule =
  /** Its only input's shape. */
  | 'same'
  /** The broadcast of its inputs' shapes (element-wise merges). */
  | 'broadcast'
  /** A rule of its own (shapes.ts, layerOutputShape). */
  | 'own';

/** The weight passes that may compress a weight in place (its shape and the layer stay). */
export type WeightPass =
  /** prune: magnitude and N:M pruning; finetune and distill keep its zeros. */
  | 'prune'
  /** quantize: the packed int8 / int4 / int2 formats, per output channel or per group. */
  | 'quantize'
  /** cluster: k-means weight sharing; finetune and distill keep it shared. */
  | 'cluster';

/** The layer dimensions a weight's shape is made of; read lazily, so a config error surfaces where Keras's would. */
export interface WeightDims {
  config: Readonly<Record<string, unknown>>;
  /** The channels the weight runs over: the input's last dimension, or the axis `config.axis` names (see channelAxis). */
  channels(): number;
  /** `kernel_size` as a list of two. */
  kernel(): number[];
}

/** A weight a layer holds, stored as `<layer>/<key>`. */
export interface WeightRole {
  key: string;
  /**
   * Where its output channels are (negative: from the end): channel c is the flat index over axes
   * outputAxis … −1. −1 for a Dense or Conv2D kernel [.., in, out] and a bias; −2 for a depthwise kernel
   * [kh, kw, in, multiplier], whose output channel is in·multiplier + m.
   */
  outputAxis: number;
  /** The axis that runs over the input's channels (negative: from the end), for a kernel; absent otherwise. */
  inputAxis?: number;
  /** The config flag that leaves the weight out when false. */
  unless?: 'use_bias' | 'scale' | 'center';
  /** Its shape from the layer's config and input; absent where mcbuild does not check the class's weights. */
  shape?: (d: WeightDims) => number[];
  /** The weight passes that may compress it. */
  compress?: readonly WeightPass[];
}

/** What a layer does to the channels of the tensor it reads, as channel pruning (prune-channels) follows them. */
export type ChannelRule =
  /** Makes new output channels from its kernel (its `outputChannels` option): a channel space starts here. */
  | 'root'
  /** One filter per input channel (depth_multiplier of them): its output channels follow its input's. */
  | 'depthwise'
  /** A depthwise part that follows its input's channels, then a pointwise kernel making new ones. */
  | 'separable'
  /** Per-channel parameters along the channels axis (gamma, beta, moving statistics). */
  | 'per-channel'
  /** Keeps each channel in place, with no weights, on an unflattened (NHWC) tensor. */
  | 'keep'
  /** Keeps each channel in place, whatever the layout (also after a Flatten). */
  | 'keep-flat'
  /** Flattens positions and channels into one axis (the channel fastest). */
  | 'flatten'
  /** Element-wise merge: its inputs' channels must line up. */
  | 'merge'
  /** Mixes or scales channels by position. */
  | 'mix';

export interface LayerClass {
  shape?: ShapeRule;
  /** Its weights, in the order Keras creates them; [] for a class known to hold none. */
  weights?: readonly WeightRole[];
  /** The axis its per-channel weights run along: the input's last (default) or the one `config.axis` names. */
  channelAxis?: 'last' | 'config';
  /** The config option holding its number of output channels. */
  outputChannels?: 'units' | 'filters';
  /** The kernel (its key) fold-batchnorm may fold a BatchNormalization right after the layer into, with the bias. */
  foldsBatchNormInto?: string;
  /** lowrank: true when it factors the layer's kernel into two layers, else why it cannot. */
  lowrank?: true | string;
  channels?: ChannelRule;
  /** MACs and FLOPs per sample (layer-costs.ts). */
  cost?: CostRule;
}

const WEIGHT_PASSES: readonly WeightPass[] = ['prune', 'quantize', 'cluster'];
const dm = (d: WeightDims) => (d.config.depth_multiplier as number | undefined) ?? 1;
const bias = (channels: (d: WeightDims) => number): WeightRole => ({
  key: 'bias',
  outputAxis: -1,
  unless: 'use_bias',
  shape: (d) => [channels(d)],
});
const perChannel = (key: string, unless?: 'scale' | 'center'): WeightRole => ({
  key,
  outputAxis: -1,
  ...(unless ? { unless } : {}),
  shape: (d) => [d.channels()],
});
/** A class with no weights, no cost and the shape of its input: activations, dropout, noise. */
const passThrough = (channels?: ChannelRule): LayerClass => ({
  shape: 'same',
  weights: [],
  ...(channels ? { channels } : {}),
  cost: 'free',
});
const merge = (cost: CostRule): LayerClass => ({ shape: 'broadcast', weights: [], channels: 'merge', cost });

const CLASSES: Readonly<Record<string, LayerClass>> = {
  InputLayer: { shape: 'own', weights: [], cost: 'free' },

  Dense: {
    shape: 'own',
    weights: [
      {
        key: 'kernel',
        outputAxis: -1,
        inputAxis: -2,
        shape: (d) => [d.channels(), d.config.units as number],
        compress: WEIGHT_PASSES,
      },
      bias((d) => d.config.units as number),
    ],
    outputChannels: 'units',
    foldsBatchNormInto: 'kernel',
    lowrank: true,
    channels: 'root',
    cost: denseCost,
  },
  Conv2D: {
    shape: 'own',
    weights: [
      {
        key: 'kernel',
        outputAxis: -1,
        inputAxis: -2,
        shape: (d) => [...d.kernel(), d.channels(), d.config.filters as number],
        compress: WEIGHT_PASSES,
      },
      bias((d) => d.config.filters as number),
    ],
    outputChannels: 'filters',
    foldsBatchNormInto: 'kernel',
    lowrank: true,
    channels: 'root',
    cost: conv2dCost,
  },
  DepthwiseConv2D: {
    shape: 'own',
    weights: [
      {
        key: 'depthwise_kernel',
        outputAxis: -2,
        inputAxis: -2,
        shape: (d) => [...d.kernel(), d.channels(), dm(d)],
        compress: WEIGHT_PASSES,
      },
      bias((d) => d.channels() * dm(d)),
    ],
    foldsBatchNormInto: 'depthwise_kernel',
    lowrank: 'a depthwise kernel has one filter per channel: there is no channel-mixing matrix to factor',
    channels: 'depthwise',
    cost: depthwiseConv2dCost,
  },
  SeparableConv2D: {
    shape: 'own',
    weights: [
      { key: 'depthwise_kernel', outputAxis: -2, inputAxis: -2, shape: (d) => [...d.kernel(), d.channels(), dm(d)] },
      {
        key: 'pointwise_kernel',
        outputAxis: -1,
        inputAxis: -2,
        shape: (d) => [1, 1, d.channels() * dm(d), d.config.filters as number],
      },
      bias((d) => d.config.filters as number),
    ],
    outputChannels: 'filters',
    lowrank: 'it is already factored (depthwise then pointwise); decompose its pointwise part as a Conv2D instead',
    channels: 'separable',
    cost: separableConv2dCost,
  },
  // Known by their weights only (no shape rule yet): a model with one has no inferred shapes or cost.
  Conv1D: {
    weights: [
      { key: 'kernel', outputAxis: -1, inputAxis: -2 },
      { key: 'bias', outputAxis: -1, unless: 'use_bias' },
    ],
    outputChannels: 'filters',
  },
  Embedding: { weights: [{ key: 'embeddings', outputAxis: -1 }] },

  BatchNormalization: {
    shape: 'same',
    weights: [
      perChannel('gamma', 'scale'),
      perChannel('beta', 'center'),
      perChannel('moving_mean'),
      perChannel('moving_variance'),
    ],
    channelAxis: 'config',
    channels: 'per-channel',
    cost: batchNormCost,
  },
  LayerNormalization: {
    shape: 'same',
    weights: [
      { key: 'gamma', outputAxis: -1, unless: 'scale' },
      { key: 'beta', outputAxis: -1, unless: 'center' },
    ],
    channelAxis: 'config',
    channels: 'mix',
    cost: 'uncounted',
  },
  PReLU: { shape: 'same', weights: [{ key: 'alpha', outputAxis: -1 }], channels: 'mix', cost: 'uncounted' },

  ReLU: passThrough('keep'),
  LeakyReLU: passThrough('keep'),
  ELU: passThrough('keep'),
  ThresholdedReLU: passThrough('keep'),
  Softmax: passThrough('mix'),
  // A softmax activation mixes channels too: prune-channels reads `config.activation`.
  Activation: passThrough('keep-flat'),
  Dropout: passThrough('keep-flat'),
  SpatialDropout1D: passThrough('keep-flat'),
  SpatialDropout2D: passThrough('keep-flat'),
  AlphaDropout: passThrough('keep-flat'),
  GaussianDropout: passThrough('keep-flat'),
  GaussianNoise: passThrough('keep-flat'),
  Masking: passThrough(),

  Add: merge(mergeCost),
  Subtract: merge(mergeCost),
  Multiply: merge(mergeCost),
  Maximum: merge(mergeCost),
  Minimum: merge(mergeCost),
  Average: merge(averageCost),
  Concatenate: { shape: 'own', weights: [], cost: 'free' },

  Flatten: { shape: 'own', weights: [], channels: 'flatten', cost: 'free' },
  Reshape: { shape: 'own', weights: [], cost: 'free' },
  ZeroPadding2D: { shape: 'own', weights: [], channels: 'keep', cost: 'free' },
  MaxPooling2D: { shape: 'own', weights: [], channels: 'keep', cost: maxPoolCost },
  AveragePooling2D: { shape: 'own', weights: [], channels: 'keep', cost: averagePoolCost },
  GlobalAveragePooling2D: { shape: 'own', weights: [], channels: 'keep', cost: globalAveragePoolCost },
  GlobalMaxPooling2D: { shape: 'own', weights: [], channels: 'keep', cost: globalMaxPoolCost },
};

/** The catalogue entry of a Keras class (its `class_name`), or undefined for a class mcbuild does not know. */
export function layerClass(className: string): LayerClass | undefined {
  return Object.hasOwn(CLASSES, className) ? CLASSES[className] : undefined;
}

/** Every class the catalogue has an entry for. */
export function layerClassNames(): string[] {
  return Object.keys(CLASSES);
}

/** The role of weight `key` in a layer of class `className`, if the catalogue knows it. */
export function weightRole(className: string, key: string): WeightRole | undefined {
  return layerClass(className)?.weights?.find((r) => r.key === key);
}

/** The weight `pass` compresses in a layer of class `className` (a Dense's kernel, a DepthwiseConv2D's depthwise_kernel). */
export function compressedWeight(className: string, pass: WeightPass): WeightRole | undefined {
  return layerClass(className)?.weights?.find((r) => r.compress?.includes(pass));
}

/**
 * The compressed weight stored under `key`, for a model without a topology to read classes from (a graph
 * model): by the Keras weight names alone, `kernel` as a Dense's or Conv2D's, `depthwise_kernel` as a
 * DepthwiseConv2D's.
 */
export function compressedWeightByKey(key: string, pass: WeightPass): WeightRole | undefined {
  for (const c of Object.values(CLASSES)) {
    const r = c.weights?.find((w) => w.key === key && w.compress?.includes(pass));
    if (r) return r;
  }
  return undefined;
}

/** Output channels of a weight of shape `shape`: the product of its axes from `role.outputAxis` on. */
export function outputChannelCount(role: WeightRole, shape: readonly number[]): number {
  return shape.slice(shape.length + role.outputAxis).reduce((a, b) => a * b, 1);
}
