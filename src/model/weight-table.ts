/**
 * Decoded weights by layer for passes that add, drop or rename weights, and the rebuild of a model from an
 * edited topology and its weights (checked against each other first).
 */
import { elementCount, type StoredModel } from './format.js';
import { weightProblems } from './expected-weights.js';
import type { Topology } from './topology.js';
import { TopologyError } from './topology-error.js';
import { weightKey, weightLayer } from './weight-names.js';
import { encodeWeights, type DecodedWeight } from './weights.js';

/**
 * Decoded weights by layer, in manifest order, for passes that add, drop or rename weights. New weights go
 * right after their layer's last weight (or at the end), so the manifest keeps layers together.
 */
export class WeightTable {
  private items: DecodedWeight[];

  constructor(weights: readonly DecodedWeight[]) {
    this.items = [...weights];
  }

  list(): DecodedWeight[] {
    return [...this.items];
  }

  get(layer: string, key: string): DecodedWeight | undefined {
    return this.items.find((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
  }

  /** The weight, or a TopologyError naming it: for weights a layer's class requires. */
  require(layer: string, key: string): DecodedWeight {
    const w = this.get(layer, key);
    if (!w)
      throw new TopologyError(`the model has no weight ${layer}/${key}; model.json's weights do not match its layers.`);
    return w;
  }

  /** float32 values of a weight (a TopologyError for a missing or non-float weight). */
  floats(layer: string, key: string): Float32Array {
    const w = this.require(layer, key);
    if (!(w.values instanceof Float32Array))
      throw new TopologyError(`weight ${w.spec.name} is ${w.spec.dtype}, not float32.`);
    return w.values;
  }

  ofLayer(layer: string): DecodedWeight[] {
    return this.items.filter((w) => weightLayer(w.spec.name) === layer);
  }

  /** Sets (replacing, or adding after the layer's other weights) weight `layer/key` as float32 of `shape`. */
  set(layer: string, key: string, values: Float32Array, shape: readonly number[]): void {
    if (values.length !== elementCount(shape))
      throw new Error(`weight ${layer}/${key}: ${values.length} values for shape [${shape.join(', ')}]`);
    const at = this.items.findIndex((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
    if (at >= 0) {
      const { quantization: _dropped, ...spec } = this.items[at]!.spec;
      this.items[at] = { spec: { ...spec, shape: [...shape], dtype: 'float32' }, values };
      return;
    }
    const sibling = this.items.findLastIndex((w) => weightLayer(w.spec.name) === layer);
    // Keep any scope prefix the layer's other weights carry ("model/conv1/kernel").
    const prefix = sibling >= 0 ? this.items[sibling]!.spec.name.split('/').slice(0, -2).join('/') : '';
    const w: DecodedWeight = {
      spec: { name: `${prefix ? `${prefix}/` : ''}${layer}/${key}`, shape: [...shape], dtype: 'float32' },
      values,
    };
    this.items.splice(sibling >= 0 ? sibling + 1 : this.items.length, 0, w);
  }

  /** Removes one weight; returns it (undefined when absent). */
  delete(layer: string, key: string): DecodedWeight | undefined {
    const at = this.items.findIndex((w) => weightLayer(w.spec.name) === layer && weightKey(w.spec.name) === key);
    return at < 0 ? undefined : this.items.splice(at, 1)[0];
  }

  /** Removes every weight of a layer; returns them. */
  deleteLayer(layer: string): DecodedWeight[] {
    const gone = this.ofLayer(layer);
    this.items = this.items.filter((w) => weightLayer(w.spec.name) !== layer);
    return gone;
  }

  /** Renames a layer's weights (after Topology.renameLayer). */
  renameLayer(from: string, to: string): void {
    this.items = this.items.map((w) => {
      if (weightLayer(w.spec.name) !== from) return w;
      const parts = w.spec.name.split('/');
      parts[parts.length - 2] = to;
      return { ...w, spec: { ...w.spec, name: parts.join('/') } };
    });
  }
}

/**
 * The model with `topology` and `weights`, after checking they fit (weightProblems): a structural pass's
 * last step. Metadata and the shard size carry over; quantized weights the table still holds as decoded
 * are written as float32 (their spec no longer carries a quantization).
 */
export function rebuildModel(
  model: StoredModel,
  topology: Topology,
  weights: WeightTable | readonly DecodedWeight[],
): StoredModel {
  const list = weights instanceof WeightTable ? weights.list() : [...weights];
  const problems = weightProblems(
    topology,
    list.map((w) => w.spec),
  );
  if (problems.length) {
    // The pass built an inconsistent model: a bug, not the user's input.
    throw new Error(
      `rewired model is inconsistent: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
    );
  }
  const out = encodeWeights(topology.toModelJson(model.json), list);
  return model.shardBytes === undefined ? out : { ...out, shardBytes: model.shardBytes };
}
