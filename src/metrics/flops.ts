/**
 * Compute cost of a layers model per sample (batch 1), from its topology alone (src/engine/topology.ts): no
 * TF.js, so a cached build can still report it and a structural pass can predict what it saves.
 *
 * Conventions (those of most published counters, so numbers compare with papers):
 *  - MACs (multiply-accumulates) are the products of convolutions and Dense layers: output elements ×
 *    kernel volume, the full kernel at every output position (also where 'same' padding reads zeros).
 *  - FLOPs count each multiply and each add: 2 per MAC, plus one add per output for a bias; pooling counts
 *    its compares (max: window − 1 per output) or adds and the divide (average: window per output, only the
 *    in-bounds part of a 'same'-padded window, as TF divides by it); BatchNormalization 2 per element (the
 *    multiply and add of its inference form x·a + b); element-wise merges one op per input beyond the first
 *    per element (Average also its divide). Activations, reshapes, padding and dropout are not counted.
 * A model with a layer whose class mcbuild does not know is not counted at all (a partial total would read
 * as a real one).
 */
import { type Shape, Topology, TopologyError, tupleOf } from '../engine/topology.js';
import type { StoredModel } from '../engine/model-format.js';

export interface LayerCost {
  name: string;
  className: string;
  macs: number;
  flops: number;
  outputShape: Shape;
}

export interface ModelCost {
  /** Multiply-accumulates per sample. */
  macs: number;
  /** Floating-point operations per sample (see the conventions above). */
  flops: number;
  layers: LayerCost[];
}

/** Cost of every layer of the topology; throws TopologyError when a shape or layer cannot be counted. */
export function countCost(topology: Topology): ModelCost {
  const layers: LayerCost[] = [];
  for (const l of topology.layers()) {
    const out = topology.outputShape(l.name);
    const ins = l.className === 'InputLayer' ? [] : topology.inputShapes(l.name);
    const { macs, flops } = layerCost(l.name, l.className, l.config, ins, out);
    layers.push({ name: l.name, className: l.className, macs, flops, outputShape: out });
  }
  return { macs: layers.reduce((n, l) => n + l.macs, 0), flops: layers.reduce((n, l) => n + l.flops, 0), layers };
}

/** countCost of a stored model, or the reason it cannot be counted (a graph model, an unknown layer class, …). */
export function modelCost(json: StoredModel['json']): ModelCost | { unavailable: string } {
  try {
    return countCost(Topology.fromModel(json));
  } catch (e) {
    if (e instanceof TopologyError) return { unavailable: e.message };
    throw e;
  }
}

/** The product of known dimensions after the batch; TopologyError when one is open (null). */
function perSample(name: string, s: Shape): number {
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

function layerCost(
  name: string,
  cls: string,
  config: Record<string, unknown>,
  ins: Shape[],
  out: Shape,
): { macs: number; flops: number } {
  const outputs = () => perSample(name, out);
  const inChannels = () => {
    const c = ins[0]?.at(-1);
    if (typeof c !== 'number')
      throw new TopologyError(`layer ${JSON.stringify(name)} has an input with an open channel dimension.`);
    return c;
  };
  const bias = (n: number) => (config.use_bias === false ? 0 : n);
  switch (cls) {
    case 'Dense': {
      const macs = outputs() * inChannels();
      return { macs, flops: 2 * macs + bias(outputs()) };
    }
    case 'Conv2D': {
      const [kh, kw] = tupleOf(config.kernel_size, 2, 'kernel_size', name);
      const macs = outputs() * kh! * kw! * inChannels();
      return { macs, flops: 2 * macs + bias(outputs()) };
    }
    case 'DepthwiseConv2D': {
      const [kh, kw] = tupleOf(config.kernel_size, 2, 'kernel_size', name);
      // Each output channel reads one input channel: no sum over channels.
      const macs = outputs() * kh! * kw!;
      return { macs, flops: 2 * macs + bias(outputs()) };
    }
    case 'SeparableConv2D': {
      const [kh, kw] = tupleOf(config.kernel_size, 2, 'kernel_size', name);
      const dm = (config.depth_multiplier as number | undefined) ?? 1;
      const spatial = perSample(name, out) / (out.at(-1) as number);
      const mid = inChannels() * dm;
      const macs = spatial * mid * kh! * kw! + outputs() * mid;
      return { macs, flops: 2 * macs + bias(outputs()) };
    }
    case 'BatchNormalization':
      return { macs: 0, flops: 2 * outputs() };
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [, h, w, c] = ins[0]!;
      const [, oh, ow] = out;
      const p = tupleOf(config.pool_size ?? 2, 2, 'pool_size', name);
      const st = tupleOf(config.strides ?? p, 2, 'strides', name);
      const padding = String(config.padding ?? 'valid');
      if ([h, w, c, oh, ow].some((d) => d === null)) perSample(name, [null, h!, w!, c!]);
      // Elements read over all windows of one channel: the in-bounds parts multiply per axis.
      const readH = windowReads(h as number, oh as number, p[0]!, st[0]!, padding);
      const readW = windowReads(w as number, ow as number, p[1]!, st[1]!, padding);
      const reads = readH * readW * (c as number);
      const windows = outputs();
      return { macs: 0, flops: cls === 'MaxPooling2D' ? reads - windows : reads };
    }
    case 'GlobalAveragePooling2D':
      return { macs: 0, flops: perSample(name, ins[0]!) };
    case 'GlobalMaxPooling2D':
      return { macs: 0, flops: perSample(name, ins[0]!) - outputs() };
    case 'Add':
    case 'Subtract':
    case 'Multiply':
    case 'Maximum':
    case 'Minimum':
      return { macs: 0, flops: (ins.length - 1) * outputs() };
    case 'Average':
      return { macs: 0, flops: ins.length * outputs() };
    case 'LayerNormalization':
    case 'PReLU':
      throw new TopologyError(`mcbuild does not count the FLOPs of layer ${JSON.stringify(name)} (${cls}).`);
    default:
      // Every other class shape inference knows moves or selects data, or is an activation (not counted).
      return { macs: 0, flops: 0 };
  }
}

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
