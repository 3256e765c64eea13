/**
 * The catalogue of TF graph ops that hold a layer's weights in a graph model (tensorflowjs_converter's
 * `format: "graph-model"`, model.json `modelTopology.node`): which of a node's inputs is a weight, what that
 * weight is in Keras terms, and its channel axes. A graph model's weights are the values of `Const` nodes,
 * named by the node; an op reads them through its inputs.
 *
 * Nothing reads graph topologies yet (passes go by weight names in graph models); this is the table graph-model
 * support will extend, in the terms of layer-classes.ts so the passes can treat both alike.
 */
import type { WeightPass } from './layer-classes.js';

/** A weight input of a graph op. */
export interface GraphOpWeight {
  /** Index into the node's `input` list. */
  input: number;
  /** The Keras weight it corresponds to (layer-classes.ts keys). */
  key: 'kernel' | 'depthwise_kernel' | 'bias' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance';
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

const OPS: Readonly<Record<string, GraphOp>> = {
  Conv2D: { like: 'Conv2D', weights: [kernel] },
  DepthwiseConv2dNative: { like: 'DepthwiseConv2D', weights: [depthwise] },
  MatMul: { like: 'Dense', weights: [kernel] },
  _FusedConv2D: { like: 'Conv2D', weights: [kernel, fusedBias], fused: true },
  FusedDepthwiseConv2dNative: { like: 'DepthwiseConv2D', weights: [depthwise, fusedBias], fused: true },
  _FusedMatMul: { like: 'Dense', weights: [kernel, fusedBias], fused: true },
  BiasAdd: { weights: [{ input: 1, key: 'bias', outputAxis: -1 }] },
  // x, scale, offset, mean, variance (inference: is_training false).
  FusedBatchNorm: { like: 'BatchNormalization', weights: batchNormInputs() },
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
