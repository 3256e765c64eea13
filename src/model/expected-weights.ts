/**
 * The weights each layer of a topology must hold, from the layer catalogue and the layer's config and input
 * shape, and the check that a model's weights are exactly those: what tf.loadLayersModel will demand of a
 * rewired model, said with the layer's name before it leaves a pass.
 */
import type { WeightSpec } from './format.js';
import { batchNormAxis, tupleOf } from './keras-config.js';
import { layerClass } from './layer-classes.js';
import type { Topology } from './topology.js';
import { TopologyError } from './topology-error.js';
import { weightKey, weightLayer } from './weight-names.js';

/** The weights a layer of a known class must hold, with their shapes; undefined for classes mcbuild does not check. */
export function expectedWeights(topology: Topology, name: string): { key: string; shape: number[] }[] | undefined {
  const entry = layerClass(topology.className(name));
  const roles = entry?.weights;
  if (!roles || roles.some((r) => r.shape === undefined)) return undefined;
  if (roles.length === 0) return [];
  const c = topology.config(name);
  let channels: number | undefined;
  const dims = {
    config: c,
    channels: () =>
      (channels ??= entry.channelAxis === 'config' ? normalisedSize(topology, name) : lastDim(topology, name)),
    kernel: () => tupleOf(c.kernel_size, 2, 'kernel_size', name),
  };
  return roles
    .filter((r) => r.unless === undefined || c[r.unless] !== false)
    .map((r) => ({ key: r.key, shape: r.shape!(dims) }));
}

function lastDim(topology: Topology, name: string): number {
  const d = topology.inputShape(name).at(-1);
  if (typeof d !== 'number')
    throw new TopologyError(`layer ${JSON.stringify(name)} has an input whose last dimension is not known.`);
  return d;
}

/** The size of the axis a normalisation layer normalises (its `config.axis`). */
function normalisedSize(topology: Topology, name: string): number {
  const s = topology.inputShape(name);
  const n = s[batchNormAxis(name, topology.config(name), s.length)];
  if (typeof n !== 'number')
    throw new TopologyError(`layer ${JSON.stringify(name)} normalises an axis of unknown size.`);
  return n;
}

/**
 * Checks that the weights fit the topology as tf.loadLayersModel will: every weight belongs to a layer of the
 * model, and every layer of a known class has exactly the weights of its config and input, with their shapes.
 * Returns the problems (empty when consistent); rebuildModel throws on any.
 */
export function weightProblems(topology: Topology, specs: readonly Pick<WeightSpec, 'name' | 'shape'>[]): string[] {
  const problems: string[] = [];
  const byLayer = new Map<string, Map<string, number[]>>();
  for (const s of specs) {
    const layer = weightLayer(s.name);
    if (layer === undefined || !topology.has(layer)) {
      problems.push(`weight ${s.name} belongs to no layer of the model`);
      continue;
    }
    const m = byLayer.get(layer) ?? new Map<string, number[]>();
    if (m.has(weightKey(s.name))) problems.push(`weight ${s.name} is listed twice`);
    m.set(weightKey(s.name), s.shape);
    byLayer.set(layer, m);
  }
  for (const name of topology.names()) {
    let expected: { key: string; shape: number[] }[] | undefined;
    try {
      expected = expectedWeights(topology, name);
    } catch (e) {
      if (!(e instanceof TopologyError)) throw e;
      problems.push(e.message.replace(/\.$/, ''));
      continue;
    }
    if (expected === undefined) continue;
    const have = byLayer.get(name) ?? new Map<string, number[]>();
    for (const { key, shape } of expected) {
      const got = have.get(key);
      if (!got)
        problems.push(`layer ${name} (${topology.className(name)}) has no weight ${name}/${key} [${shape.join(', ')}]`);
      else if (got.length !== shape.length || got.some((d, k) => d !== shape[k]))
        problems.push(
          `weight ${name}/${key} has shape [${got.join(', ')}] but layer ${name} needs [${shape.join(', ')}]`,
        );
    }
    for (const key of have.keys())
      if (!expected.some((e) => e.key === key))
        problems.push(`weight ${name}/${key} is not a weight of layer ${name} (${topology.className(name)})`);
  }
  return problems;
}
