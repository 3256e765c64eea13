/**
 * The compute cost of one layer per sample (batch 1): the formulas the layer catalogue (layer-classes.ts)
 * gives each class, from the layer's config and its input and output shapes alone.
 *
 * Conventions (those of most published counters, so numbers compare with papers):
 *  - MACs (multiply-accumulates) are the products of convolutions and Dense layers: output elements ×
 *    kernel volume, the full kernel at every output position (also where 'same' padding reads zeros).
 *  - FLOPs count each multiply and each add: 2 per MAC, plus one add per output for a bias; pooling counts
 *    its compares (max: window − 1 per output) or adds and the divide (average: window per output, only the
 *    in-bounds part of a 'same'-padded window, as TF divides by it); BatchNormalization 2 per element (the
 *    multiply and add of its inference form x·a + b); element-wise merges one op per input beyond the first
 *    per element (Average also its divide). Activations, reshapes, padding and dropout are not counted.
 */
import { paddingOf, tupleOf } from './keras-config.js';
import type { Shape } from './dims.js';
import { TopologyError } from './topology-error.js';

/** One layer as its cost formula sees it. */
export interface CostInput {
  name: string;
  className: string;
  config: Readonly<Record<string, unknown>>;
  /** Input shapes, batch first ([] for an InputLayer). */
  inputs: readonly Shape[];
  output: Shape;
}

export interface Cost {
  macs: number;
  flops: number;
}

/** A class's cost: a formula, 'free' (moves or selects data, or an activation: not counted) or 'uncounted' (mcbuild has no formula: the model's cost is unavailable). */
export type CostRule = ((l: CostInput) => Cost) | 'free' | 'uncounted';

/** The product of known dimensions after the batch; TopologyError when one is open (null). */
export function perSample(name: string, s: Shape): number {
  let n = 1;
  for (const d of s.slice(1)) {
    if (d === null)
      throw new TopologyError(
        `layer ${JSON.stringify(name)} has an output of open shape [${s.join(', ')}]; FLOPs need fixed input sizes.`,
      );
    n *= d;
  }
  return n;
}

const outputs = (l: CostInput) => perSample(l.name, l.output);
const inChannels = (l: CostInput) => {
  const c = l.inputs[0]?.at(-1);
  if (typeof c !== 'number')
    throw new TopologyError(`layer ${JSON.stringify(l.name)} has an input with an open channel dimension.`);
  return c;
};
const bias = (l: CostInput, n: number) => (l.config.use_bias === false ? 0 : n);
const kernel = (l: CostInput) => tupleOf(l.config.kernel_size, 2, 'kernel_size', l.name);
/** MACs plus their FLOPs: a multiply and an add each, and one add per output for a bias. */
const linear = (l: CostInput, macs: number): Cost => ({ macs, flops: 2 * macs + bias(l, outputs(l)) });

export const denseCost = (l: CostInput): Cost => linear(l, outputs(l) * inChannels(l));

export const conv2dCost = (l: CostInput): Cost => {
  const [kh, kw] = kernel(l);
  return linear(l, outputs(l) * kh! * kw! * inChannels(l));
};

/** Each output channel reads one input channel: no sum over channels. */
export const depthwiseConv2dCost = (l: CostInput): Cost => {
  const [kh, kw] = kernel(l);
  return linear(l, outputs(l) * kh! * kw!);
};

/** The depthwise part at every position of the intermediate tensor, then the pointwise part per output. */
export const separableConv2dCost = (l: CostInput): Cost => {
  const [kh, kw] = kernel(l);
  const dm = (l.config.depth_multiplier as number | undefined) ?? 1;
  const spatial = perSample(l.name, l.output) / (l.output.at(-1) as number);
  const mid = inChannels(l) * dm;
  return linear(l, spatial * mid * kh! * kw! + outputs(l) * mid);
};

/** Inference form x·a + b: a multiply and an add per element. */
export const batchNormCost = (l: CostInput): Cost => ({ macs: 0, flops: 2 * outputs(l) });

/** Elements read by all windows of a 2-D pooling, and the number of windows. */
const poolReads = (l: CostInput): { reads: number; windows: number } => {
  const [, h, w, c] = l.inputs[0]!;
  const [, oh, ow] = l.output;
  const p = tupleOf(l.config.pool_size ?? 2, 2, 'pool_size', l.name);
  const st = tupleOf(l.config.strides ?? p, 2, 'strides', l.name);
  const padding = paddingOf(l.config);
  if ([h, w, c, oh, ow].some((d) => d === null)) perSample(l.name, [null, h!, w!, c!]);
  // Elements read over all windows of one channel: the in-bounds parts multiply per axis.
  const readH = windowReads(h as number, oh as number, p[0]!, st[0]!, padding);
  const readW = windowReads(w as number, ow as number, p[1]!, st[1]!, padding);
  const reads = readH * readW * (c as number);
  return { reads, windows: outputs(l) };
};

/** The compares of each window: its in-bounds reads − 1. */
export const maxPoolCost = (l: CostInput): Cost => {
  const { reads, windows } = poolReads(l);
  return { macs: 0, flops: reads - windows };
};

/** The adds of each window and the divide: its in-bounds reads. */
export const averagePoolCost = (l: CostInput): Cost => ({ macs: 0, flops: poolReads(l).reads });

export const globalAveragePoolCost = (l: CostInput): Cost => ({ macs: 0, flops: perSample(l.name, l.inputs[0]!) });

export const globalMaxPoolCost = (l: CostInput): Cost => ({
  macs: 0,
  flops: perSample(l.name, l.inputs[0]!) - outputs(l),
});

/** One op per input beyond the first, per output element. */
export const mergeCost = (l: CostInput): Cost => ({ macs: 0, flops: (l.inputs.length - 1) * outputs(l) });

/** The adds of mergeCost and the divide. */
export const averageCost = (l: CostInput): Cost => ({ macs: 0, flops: l.inputs.length * outputs(l) });

/** Input elements the windows along one axis read, in bounds only (TF's 'same' pads before by floor(total / 2)). */
function windowReads(size: number, outSize: number, k: number, stride: number, padding: string): number {
  const padBefore = padding === 'same' ? Math.floor(Math.max(0, (outSize - 1) * stride + k - size) / 2) : 0;
  let n = 0;
  for (let o = 0; o < outSize; o++) {
    const start = o * stride - padBefore;
    n += Math.max(0, Math.min(start + k, size) - Math.max(start, 0));
  }
  return n;
}
