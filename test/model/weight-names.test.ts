/**
 * How weights are matched to layers (src/model/weight-names.ts) and the layer list overrides see
 * (src/model/model-layers.ts), on real TF.js model.json files and hand-written graph-model manifests.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { layerClasses, layerOfWeight, modelLayers, weightKey, weightLayer } from '../../src/model/index.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('weight names', () => {
  it('splits <layer>/<key>, under any scope', () => {
    expect(weightLayer('conv_pw_1_bn/gamma')).toBe('conv_pw_1_bn');
    expect(weightKey('conv_pw_1_bn/gamma')).toBe('gamma');
    expect(weightLayer('model/conv1/kernel')).toBe('conv1');
    expect(weightKey('model/conv1/kernel')).toBe('kernel');
    expect(weightLayer('kernel')).toBeUndefined();
  });

  it('layerOfWeight: the layer when the topology has it, else the weight group (a graph model)', () => {
    const classes = new Map([['conv1', 'Conv2D']]);
    expect(layerOfWeight('model/conv1/kernel', classes)).toBe('conv1');
    expect(layerOfWeight('model/other/kernel', classes)).toBe('model/other');
    expect(layerOfWeight('StatefulPartitionedCall/dense/MatMul', undefined)).toBe('StatefulPartitionedCall/dense');
    expect(layerOfWeight('bias', undefined)).toBe('bias');
  });

  it('layerClasses: every layer of a real model, none for a graph model', async () => {
    const built = buildArchitecture(tf, 'lenet5', {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const model = await fromLayersModel(tf, built);
    built.dispose();
    const classes = layerClasses(model.json)!;
    expect([...classes.values()]).toContain('Conv2D');
    expect([...classes.values()]).toContain('Dense');
    for (const spec of model.weightSpecs) expect(classes.has(layerOfWeight(spec.name, classes)), spec.name).toBe(true);
    expect(layerClasses({ format: 'graph-model', modelTopology: { node: [] } })).toBeUndefined();
  });
});

describe('modelLayers', () => {
  it("a layers model's layers with classes and inputs, in topology order", async () => {
    const built = buildArchitecture(tf, 'mlp', {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const model = await fromLayersModel(tf, built);
    built.dispose();
    const layers = modelLayers(model.json);
    const dense = layers.filter((l) => l.className === 'Dense');
    expect(dense.length).toBe(3);
    for (const [i, l] of layers.entries())
      if (i > 0 && l.inbound?.length) expect(l.inbound).toEqual([layers[i - 1]!.name]);
  });

  it("a graph model's weight groups, from its manifest or the weights given", () => {
    const json = {
      format: 'graph-model',
      modelTopology: { node: [] },
      weightsManifest: [{ paths: [], weights: [{ name: 'dense/kernel' }, { name: 'dense/bias' }, { name: 'scale' }] }],
    };
    expect(modelLayers(json)).toEqual([{ name: 'dense' }, { name: 'scale' }]);
    expect(modelLayers(json, [{ name: 'a/b/w' }])).toEqual([{ name: 'a/b' }]);
  });
});
