/** What fold-batchnorm reports per batch norm, in layers and graph models alike. */
export interface FoldedBatchNorm {
  /** The BatchNormalization layer removed. */
  batchNorm: string;
  /** The layer it was folded into, and its class. */
  into: string;
  className: string;
  /** True when that layer had no bias and got one. */
  addedBias: boolean;
}

export interface SkippedBatchNorm {
  layer: string;
  reason: string;
}
