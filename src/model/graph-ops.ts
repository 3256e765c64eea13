/**
 * The catalogue of TF graph ops that hold a layer's weights in a graph model (tensorflowjs_converter's
 * `format: "graph-model"`, model.json `modelTopology.node`): which of a node's inputs is a weight, what that
 * weight is in Keras terms, and its channel axes. A graph model's weights are the values of `Const` nodes,
 * named by the node; an op reads them through its inputs.
 *
 * graph-layers.ts reads a topology with it: each weight found by the op that consumes it, in the terms of
 * layer-classes.ts, so the passes and the per-layer overrides treat graph and layers models alike.
 */
import type { WeightPass } from './layer-classes.js';

/** A weight input of a graph op. */
export interface GraphOpWeight {
  /** Index into the node's `input` list. */
  input: number;
  /** The Keras weight it corresponds to (layer-classes.ts keys). */
  key: 'kernel' | 'depthwise_kernel' | 'bias' | 'alpha' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance';
  /** As WeightRole.outputAxis: the output channels are the flat index over axes outputAxis … −1. */
  outputAxis: number;
  /** As WeightRole.inputAxis: the axis over the input's channels, for a kernel. */
  inputAxis?: number;
  /** The weight passes that may compress it. */
  compress?: readonly WeightPass[];
}

export interface GraphOp {
  /** The Keras class that computes the same thing (a fused op: the class of its main part); absent for a part of one. */
  like?: string;
  weights: readonly GraphOpWeight[];
  /**
   * True for the converter's fused ops, whose extra inputs (from index 2) depend on the `fused_ops` attribute:
   * the weights listed past the kernel hold only when it starts with BiasAdd.
   */
  fused?: true;
  /**
   * The op a fused op computes first (_FusedConv2D: Conv2D): an override's `ops: [Conv2D]` matches it too.
   * Absent: the op is its own base.
   */
  base?: string;
}

const WEIGHT_PASSES: readonly WeightPass[] = ['prune', 'quantize', 'cluster'];
/** filter [kh, kw, in, out] or matrix [in, out] (MatMul without transpose_b). */
const kernel: GraphOpWeight = { input: 1, key: 'kernel', outputAxis: -1, inputAxis: -2, compress: WEIGHT_PASSES };
/** filter [kh, kw, in, multiplier]. */
const depthwise: GraphOpWeight = {
  input: 1,
  key: 'depthwise_kernel',
  outputAxis: -2,
  inputAxis: -2,
  compress: WEIGHT_PASSES,
};
const fusedBias: GraphOpWeight = { input: 2, key: 'bias', outputAxis: -1 };
/** A fused op's PReLU slopes, after its bias (fused_ops [BiasAdd, Prelu], num_args 2). */
const fusedAlpha: GraphOpWeight = { input: 3, key: 'alpha', outputAxis: -1 };

const OPS: Readonly<Record<string, GraphOp>> = {
  Conv2D: { like: 'Conv2D', weights: [kernel] },
  DepthwiseConv2dNative: { like: 'DepthwiseConv2D', weights: [depthwise] },
  MatMul: { like: 'Dense', weights: [kernel] },
  _FusedConv2D: { like: 'Conv2D', weights: [kernel, fusedBias, fusedAlpha], fused: true, base: 'Conv2D' },
  FusedDepthwiseConv2dNative: {
    like: 'DepthwiseConv2D',
    weights: [depthwise, fusedBias, fusedAlpha],
    fused: true,
    base: 'DepthwiseConv2dNative',
  },
  _FusedMatMul: { like: 'Dense', weights: [kernel, fusedBias, fusedAlpha], fused: true, base: 'MatMul' },
  BiasAdd: { weights: [{ input: 1, key: 'bias', outputAxis: -1 }] },
  Prelu: { like: 'PReLU', weights: [{ input: 1, key: 'alpha', outputAxis: -1 }] },
  // x, scale, offset, mean, variance (inference: is_training false).
  FusedBatchNorm: { like: 'BatchNormalization', weights: batchNormInputs() },
  FusedBatchNormV2: { like: 'BatchNormalization', weights: batchNormInputs() },
  FusedBatchNormV3: { like: 'BatchNormalization', weights: batchNormInputs() },
};

function batchNormInputs(): GraphOpWeight[] {
  return (['gamma', 'beta', 'moving_mean', 'moving_variance'] as const).map((key, i) => ({
    input: i + 1,
    key,
    outputAxis: -1,
  }));
}

/** The op that holds a weight's value: its node's `attr.value` is the tensor, its name the weight's. */
export const WEIGHT_OP = 'Const';

/** The catalogue entry of a graph op (a node's `op`), or undefined for an op that holds no weights mcbuild knows. */
export function graphOp(op: string): GraphOp | undefined {
  return Object.hasOwn(OPS, op) ? OPS[op] : undefined;
}

/** Every op the catalogue has an entry for. */
export function graphOpNames(): string[] {
  return Object.keys(OPS);
}

/**
 * Whether a node of op `op` counts as `wanted` for an override's `ops:` list: the same op, or a fused op whose
 * base it is (`Conv2D` matches _FusedConv2D, `DepthwiseConv2dNative` FusedDepthwiseConv2dNative, `MatMul`
 * _FusedMatMul). Versions of one op (FusedBatchNormV3) are ops of their own.
 */
export function opMatches(op: string, wanted: string): boolean {
  return op === wanted || graphOp(op)?.base === wanted;
}
