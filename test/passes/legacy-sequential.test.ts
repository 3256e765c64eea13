/**
 * Keras before 2.2.3 saved a Sequential's `config` as the bare list of its layers; TF.js and mcbuild's topology
 * reader load it. The weight passes find a layer's class in the topology (src/model/weight-names.ts,
 * layerClasses) to know which weights are kernels: on such a model they must do exactly what they do on the
 * same model saved in today's form.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { layerClasses, type StoredModel } from '../../src/model/index.js';
import { cluster } from '../../src/passes/cluster/index.js';
import type { AnyPass, PassContext } from '../../src/passes/index.js';
import { prune } from '../../src/passes/prune/index.js';
import { quantize } from '../../src/passes/quantize/index.js';

const ctx = { progress: () => {} } as unknown as PassContext; // these passes read no data and load no engine
const place = { path: [], at: () => 'r.yaml:1:1' };

let modern: StoredModel;
let legacy: StoredModel;

beforeAll(async () => {
  await loadEngine('wasm');
  const built = buildArchitecture(tf, 'lenet5', {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  modern = await fromLayersModel(tf, built);
  built.dispose();
  const topology = modern.json.modelTopology as { config: { layers: unknown[] } };
  legacy = { ...modern, json: { ...modern.json, modelTopology: { ...topology, config: topology.config.layers } } };
});

describe('a pre-2.2.3 Keras Sequential (config is the layer list)', () => {
  it("has its layers' classes read", () => {
    // Every layer's; only the model's own name is gone with its config.
    const layers = new Map(layerClasses(modern.json));
    expect(layers.get('lenet5')).toBe('Sequential');
    layers.delete('lenet5');
    expect(layerClasses(legacy.json)).toEqual(layers);
  });

  // Each with the count of kernels its stats report: lenet5 has five (conv_1, conv_2, fc_1, fc_2, predictions).
  for (const [pass, raw, kernels] of [
    [prune, { sparsity: 0.5 }, (s: Record<string, unknown>) => (s.layers as unknown[]).length],
    [cluster, { bits: 3 }, (s: Record<string, unknown>) => s.kernelsClustered],
    [quantize, { dtype: 'int4', granularity: 'per-channel' }, (s: Record<string, unknown>) => s.weightsQuantized],
  ] as [AnyPass, Record<string, unknown>, (s: Record<string, unknown>) => unknown][]) {
    it(`${pass.meta.name} compresses the same kernels to the same bytes as on the model saved today`, async () => {
      const options = pass.resolveOptions(raw, place);
      const a = await pass.apply(modern, options, ctx);
      const b = await pass.apply(legacy, options, ctx);
      expect(b.stats).toEqual(a.stats);
      expect(b.model.weightSpecs).toEqual(a.model.weightSpecs);
      expect(Buffer.from(b.model.weightData).equals(Buffer.from(a.model.weightData))).toBe(true);
      expect(kernels(b.stats)).toBe(5);
    });
  }
});
