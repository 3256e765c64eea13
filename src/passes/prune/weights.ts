/** The weights a prune edits in place, and the model and statistics that come out. */
import { countZeros } from '../../algorithms/selection.js';
import { weightByteLength, type StoredModel, type WeightSpec } from '../../model/index.js';
import { decodeWeights, encodeWeights } from '../../model/index.js';
import { withRecordedWeights } from '../constraints.js';
import type { Kernel, KernelPlan } from './kernels.js';

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

export interface EditableWeights {
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
export function editableWeights(model: StoredModel): EditableWeights {
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

/**
 * The model out, with the achieved sparsity per pruned kernel and overall. The pruned kernels are recorded
 * in the model's metadata, so later training passes keep their zeros (src/passes/constraints.ts).
 */
export function finish(
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
