/**
 * src/model/topology.ts against real TF.js: what it reads (classes, wiring, shapes) must be what TF.js
 * builds, and every edit must give a model.json stock TF.js loads and that computes what it should.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import {
  type StoredModel,
  expectedWeights,
  layerOutputShape,
  rebuildModel,
  Topology,
  TopologyError,
  WeightTable,
  weightProblems,
  decodeWeights,
} from '../../src/model/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';

let mnist: tf.Tensor;

beforeAll(async () => {
  await loadEngine('wasm');
  const ds = await loadMnist('test', 16);
  mnist = tf.tensor(ds.x, [ds.count, ...ds.inputShape]);
});

async function store(model: tf.LayersModel): Promise<StoredModel> {
  const s = await fromLayersModel(tf, model);
  model.dispose();
  return s;
}

/** Predictions of a stored model, loaded by TF.js from its model.json and weights. */
async function predict(stored: StoredModel, x: tf.Tensor = mnist): Promise<Float32Array> {
  const m = await toLayersModel(tf, stored);
  const y = tf.tidy(() => m.predict(x) as tf.Tensor);
  const out = (await y.data()) as Float32Array;
  y.dispose();
  m.dispose();
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 3 };

describe('reading a topology', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['mlp', {}],
    ['lenet5', {}],
    ['lenet5', { filters: [20, 50], hidden: [500], padding: 'valid' }],
    ['mobilenet-v1', { alpha: 0.25, depthMultiplier: 2 }],
    ['mobilenet-v2', { alpha: 0.35 }],
  ];
  for (const [name, options] of cases) {
    it(`${name} ${JSON.stringify(options)}: layers, classes, wiring and output shapes are TF.js's own`, async () => {
      const model = buildArchitecture(tf, name, options, shape);
      const stored = await fromLayersModel(tf, model);
      const t = Topology.fromModel(stored.json);
      expect(t.kind).toBe(name === 'mlp' || name === 'lenet5' ? 'sequential' : 'functional');
      // TF.js's Sequential hides its InputLayer; the topology has none either.
      expect(t.names()).toEqual(model.layers.map((l) => l.name));
      for (const layer of model.layers) {
        expect(t.className(layer.name)).toBe(layer.getClassName());
        const tfInbound = layer.inboundNodes[0]!.inboundLayers.map((l) => l.name).filter((n) => t.has(n));
        expect(t.inbound(layer.name)).toEqual(tfInbound);
        const tfConsumers = layer.outboundNodes.map((n) => n.outboundLayer.name).filter((n) => t.has(n));
        expect(t.consumers(layer.name).sort()).toEqual([...new Set(tfConsumers)].sort());
        expect(t.outputShape(layer.name)).toEqual(layer.outputShape);
      }
      expect(t.outputs()).toEqual(model.outputs.map((o) => o.sourceLayer.name));
      expect(t.modelInputShape()).toEqual([null, 28, 28, 1]);
      // Every weight belongs to a layer and has the shape its config and input imply.
      expect(weightProblems(t, stored.weightSpecs)).toEqual([]);
      model.dispose();
    });
  }

  it('mobilenet-v2: an Add reads both branches, and the branch that skips feeds two layers', async () => {
    const t = Topology.fromModel((await store(buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.35 }, shape))).json);
    expect(t.inbound('block_2_add')).toEqual(['block_1_project_BN', 'block_2_project_BN']);
    expect(t.consumers('block_1_project_BN')).toEqual(['block_2_expand', 'block_2_add']);
    expect(t.inputs()).toEqual(['input']);
    expect(t.isOutput('predictions')).toBe(true);
    expect(t.layer('block_2_add')).toMatchObject({
      name: 'block_2_add',
      className: 'Add',
      inbound: ['block_1_project_BN', 'block_2_project_BN'],
    });
  });

  it('infers the shapes TF.js computes for padding, strides, dilation, pooling, merges and reshapes', async () => {
    const input = tf.input({ shape: [13, 11, 3], name: 'in' });
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
      layer.apply(x) as tf.SymbolicTensor;
    let x = apply(
      tf.layers.zeroPadding2d({
        padding: [
          [1, 2],
          [0, 1],
        ],
        name: 'pad',
      }),
      input,
    );
    x = apply(
      tf.layers.conv2d({ filters: 5, kernelSize: [3, 2], strides: [2, 3], padding: 'valid', name: 'conv_s' }),
      x,
    );
    const dil = apply(
      tf.layers.conv2d({ filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', name: 'conv_d' }),
      x,
    );
    x = apply(tf.layers.add({ name: 'add' }), [x, dil]);
    x = apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'avg' }), x);
    const dw = apply(tf.layers.depthwiseConv2d({ kernelSize: 2, depthMultiplier: 3, padding: 'valid', name: 'dw' }), x);
    const sep = apply(tf.layers.separableConv2d({ filters: 7, kernelSize: 2, padding: 'valid', name: 'sep' }), x);
    x = apply(tf.layers.concatenate({ name: 'cat' }), [dw, sep]);
    const gmax = apply(tf.layers.globalMaxPooling2d({ name: 'gmax' }), x);
    x = apply(tf.layers.maxPooling2d({ poolSize: 2, padding: 'same', name: 'max' }), x);
    x = apply(tf.layers.reshape({ targetShape: [2, 22], name: 'reshape' }), x);
    x = apply(tf.layers.dense({ units: 4, name: 'dense3d' }), x);
    x = apply(tf.layers.activation({ activation: 'relu', name: 'act' }), x);
    x = apply(tf.layers.flatten({ name: 'flat' }), x);
    x = apply(tf.layers.dropout({ rate: 0.5, name: 'drop' }), x);
    x = apply(tf.layers.concatenate({ name: 'cat2' }), [x, gmax]);
    const out = apply(tf.layers.dense({ units: 3, name: 'out' }), x);
    const model = tf.model({ inputs: input, outputs: out });
    const stored = await fromLayersModel(tf, model);
    const t = Topology.fromModel(stored.json);
    for (const layer of model.layers)
      expect([layer.name, t.outputShape(layer.name)]).toEqual([layer.name, layer.outputShape]);
    expect(t.inputShapes('cat')).toEqual([model.getLayer('dw').outputShape, model.getLayer('sep').outputShape]);
    expect(weightProblems(t, stored.weightSpecs)).toEqual([]);
    model.dispose();
  });

  it('refuses what it cannot read, naming the layer', async () => {
    expect(() => Topology.fromModel({ format: 'graph-model', modelTopology: { node: [] } })).toThrow(TopologyError);
    expect(() => Topology.fromModel({ modelTopology: { class_name: 'Weird', config: {} } })).toThrow(
      /mcbuild reads Sequential and functional/,
    );
    // A layer applied twice (shared weights) has two inbound nodes.
    const input = tf.input({ shape: [4], name: 'in' });
    const shared = tf.layers.dense({ units: 4, name: 'shared' });
    const y = shared.apply(shared.apply(input)) as tf.SymbolicTensor;
    const stored = await store(tf.model({ inputs: input, outputs: y }));
    expect(() => Topology.fromModel(stored.json)).toThrow(/layer "shared" is called 2 times \(a shared layer\)/);
    expect(Topology.tryFromModel(stored.json)).toBeUndefined();
    // An unknown class only fails the shapes that depend on it.
    const t = Topology.fromModel({
      modelTopology: {
        class_name: 'Sequential',
        config: {
          layers: [
            { class_name: 'Dense', config: { name: 'a', units: 3, batch_input_shape: [null, 5] } },
            { class_name: 'MyLayer', config: { name: 'b' } },
            { class_name: 'Dense', config: { name: 'c', units: 2 } },
          ],
        },
      },
    });
    expect(t.outputShape('a')).toEqual([null, 3]);
    expect(() => t.outputShape('b')).toThrow(/mcbuild does not know layer class MyLayer/);
    expect(() => t.outputShape('c')).toThrow(/MyLayer/);
    expect(t.shapes().get('c')).toBeUndefined();
    expect(() => t.layer('nope')).toThrow(/the model has no layer named "nope"/);
  });

  it('reads the pre-2.2.3 Keras Sequential (config is the layer list)', () => {
    const t = Topology.fromModel({
      modelTopology: {
        class_name: 'Sequential',
        config: [
          { class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 2, 3] } },
          { class_name: 'Dense', config: { name: 'd', units: 4 } },
        ],
      },
    });
    expect(t.outputShape('d')).toEqual([null, 4]);
    expect(t.inbound('d')).toEqual(['f']);
    expect(t.consumers('f')).toEqual(['d']);
  });

  it('Reshape resolves -1 as Keras does (TF.js leaves it open until it runs)', () => {
    expect(layerOutputShape('r', 'Reshape', { target_shape: [-1, 22] }, [[null, 2, 1, 22]])).toEqual([null, 2, 22]);
    expect(layerOutputShape('r', 'Reshape', { target_shape: [11, -1] }, [[null, 2, 1, 22]])).toEqual([null, 11, 4]);
  });

  it('layerOutputShape follows Keras for valid and same windows', () => {
    const conv = (size: number, k: number, s: number, padding: string) =>
      layerOutputShape('c', 'Conv2D', { filters: 1, kernel_size: [k, k], strides: [s, s], padding }, [
        [null, size, size, 1],
      ])[1];
    expect([
      conv(28, 3, 2, 'same'),
      conv(7, 3, 2, 'same'),
      conv(28, 5, 1, 'valid'),
      conv(8, 3, 2, 'valid'),
      conv(4, 5, 1, 'valid'),
    ]).toEqual([14, 4, 24, 3, 0]);
  });
});

describe('editing a topology', () => {
  it('Sequential: removing a middle layer and the first one keeps the function and loads in TF.js', async () => {
    const init = (seed: number) => tf.initializers.randomNormal({ seed });
    const stored = await store(
      tf.sequential({
        layers: [
          tf.layers.activation({ activation: 'linear', inputShape: [28, 28, 1], name: 'first' }),
          tf.layers.flatten({ name: 'flatten' }),
          tf.layers.dense({ units: 16, activation: 'relu', name: 'a', kernelInitializer: init(1) }),
          tf.layers.dropout({ rate: 0.5, name: 'drop' }),
          tf.layers.dense({ units: 10, name: 'b', kernelInitializer: init(2) }),
        ],
      }),
    );
    const t = Topology.fromModel(stored.json);
    t.removeLayer('drop');
    t.removeLayer('first');
    expect(t.names()).toEqual(['flatten', 'a', 'b']);
    expect(t.inbound('b')).toEqual(['a']);
    // The input declaration moved to the new first layer.
    expect(t.modelInputShape()).toEqual([null, 28, 28, 1]);
    const edited = rebuildModel(stored, t, decodeWeights(stored));
    expect(maxAbsDiff(await predict(edited), await predict(stored))).toBe(0);
    // The original JSON is untouched.
    expect(Topology.fromModel(stored.json).names()).toHaveLength(5);
  });

  it('Functional: removing a layer rewires an Add input, a second consumer and a model output', async () => {
    const input = tf.input({ shape: [28, 28, 1], name: 'in' });
    const conv = tf.layers
      .conv2d({
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        name: 'conv',
        kernelInitializer: tf.initializers.randomNormal({ seed: 4 }),
      })
      .apply(input) as tf.SymbolicTensor;
    const id1 = tf.layers.activation({ activation: 'linear', name: 'id1' }).apply(conv) as tf.SymbolicTensor;
    const relu = tf.layers.reLU({ name: 'relu' }).apply(id1) as tf.SymbolicTensor;
    const add = tf.layers.add({ name: 'add' }).apply([id1, relu]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(add) as tf.SymbolicTensor;
    const out = tf.layers.activation({ activation: 'linear', name: 'id2' }).apply(pooled) as tf.SymbolicTensor;
    const stored = await store(tf.model({ inputs: input, outputs: out }));
    const t = Topology.fromModel(stored.json);
    expect(t.consumers('id1')).toEqual(['relu', 'add']);
    t.removeLayer('id1');
    t.removeLayer('id2');
    expect(t.consumers('conv')).toEqual(['relu', 'add']);
    expect(t.inbound('add')).toEqual(['conv', 'relu']);
    expect(t.outputs()).toEqual(['gap']);
    expect(t.outputShape('gap')).toEqual([null, 4]);
    expect(() => t.removeLayer('add')).toThrow(/cannot remove "add": it has 2 inputs/);
    expect(() => t.removeLayer('in')).toThrow(/model's input/);
    const edited = rebuildModel(stored, t, decodeWeights(stored));
    expect(maxAbsDiff(await predict(edited), await predict(stored))).toBe(0);
  });

  it('replaceLayer: a Dense becomes two (W·I), in a Sequential hidden layer and a functional output layer', async () => {
    for (const [arch, layer] of [
      ['mlp', 'fc_1'],
      ['mobilenet-v1', 'predictions'],
    ] as const) {
      const stored = await store(
        buildArchitecture(tf, arch, arch === 'mlp' ? { hidden: [24] } : { alpha: 0.25, depth: 0 }, shape),
      );
      const t = Topology.fromModel(stored.json);
      const old = t.layer(layer);
      const units = old.config.units as number;
      const weights = new WeightTable(decodeWeights(stored));
      const kernel = weights.floats(layer, 'kernel');
      const inUnits = kernel.length / units;
      // First factor: the old kernel, no bias or activation; second: the identity, the old bias and activation.
      t.replaceLayer(layer, [
        { class_name: 'Dense', config: { ...old.config, name: `${layer}_u`, use_bias: false, activation: 'linear' } },
        { class_name: 'Dense', config: { ...old.config, name: layer } },
      ]);
      const eye = new Float32Array(units * units);
      for (let i = 0; i < units; i++) eye[i * units + i] = 1;
      weights.set(`${layer}_u`, 'kernel', kernel, [inUnits, units]);
      weights.set(layer, 'kernel', eye, [units, units]);
      expect(
        weights
          .list()
          .map((w) => w.spec.name)
          .filter((n) => n.startsWith(layer)),
      ).toEqual([`${layer}/kernel`, `${layer}/bias`, `${layer}_u/kernel`]);
      expect(t.inbound(layer)).toEqual([`${layer}_u`]);
      expect(expectedWeights(t, layer)).toEqual([
        { key: 'kernel', shape: [units, units] },
        { key: 'bias', shape: [units] },
      ]);
      const edited = rebuildModel(stored, t, weights);
      expect(maxAbsDiff(await predict(edited), await predict(stored))).toBeLessThan(1e-6);
      expect(Topology.fromModel(edited.json).outputs()).toEqual(['predictions']);
    }
  });

  it('replaceLayer refuses duplicate and taken names; insertAfter and renameLayer keep the function', async () => {
    const stored = await store(buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.35 }, shape));
    const t = Topology.fromModel(stored.json);
    expect(() => t.replaceLayer('Conv1', [{ class_name: 'ReLU', config: { name: 'Conv1_relu' } }])).toThrow(
      /a layer named "Conv1_relu" already exists/,
    );
    expect(() =>
      t.replaceLayer('Conv1', [
        { class_name: 'ReLU', config: { name: 'x' } },
        { class_name: 'ReLU', config: { name: 'x' } },
      ]),
    ).toThrow(/two new layers are named "x"/);
    expect(() => t.replaceLayer('Conv1', [])).toThrow(/at least one layer/);
    // An identity after the branch point of a residual: both the expand conv and the Add must read it.
    t.insertAfter('block_1_project_BN', {
      class_name: 'Activation',
      config: { name: 'tap', activation: 'linear', trainable: true },
    });
    expect(t.inbound('tap')).toEqual(['block_1_project_BN']);
    expect(t.consumers('tap')).toEqual(['block_2_expand', 'block_2_add']);
    expect(t.consumers('block_1_project_BN')).toEqual(['tap']);
    t.renameLayer('Conv1', 'stem');
    expect(t.consumers('input')).toEqual(['stem']);
    const weights = new WeightTable(decodeWeights(stored));
    expect(
      weightProblems(
        t,
        weights.list().map((w) => w.spec),
      ),
    ).toEqual([
      'weight Conv1/kernel belongs to no layer of the model',
      'layer stem (Conv2D) has no weight stem/kernel [3, 3, 1, 8]',
    ]);
    weights.renameLayer('Conv1', 'stem');
    const edited = rebuildModel(stored, t, weights);
    expect(maxAbsDiff(await predict(edited), await predict(stored))).toBe(0);
  });

  it('weightProblems names missing, extra and mis-shaped weights; rebuildModel refuses them', async () => {
    const stored = await store(buildArchitecture(tf, 'lenet5', {}, shape));
    const t = Topology.fromModel(stored.json);
    const weights = new WeightTable(decodeWeights(stored));
    weights.delete('fc_1', 'bias');
    weights.set('fc_2', 'kernel', new Float32Array(84 * 121), [121, 84]);
    weights.set('pool_1', 'kernel', new Float32Array(1), [1]);
    expect(
      weightProblems(
        t,
        weights.list().map((w) => w.spec),
      ),
    ).toEqual([
      'weight pool_1/kernel is not a weight of layer pool_1 (MaxPooling2D)',
      'layer fc_1 (Dense) has no weight fc_1/bias [120]',
      'weight fc_2/kernel has shape [121, 84] but layer fc_2 needs [120, 84]',
    ]);
    expect(() => rebuildModel(stored, t, weights)).toThrow(
      /rewired model is inconsistent: weight pool_1\/kernel is not a weight/,
    );
    // use_bias: false takes the bias away from what the layer needs.
    t.updateConfig('fc_1', { use_bias: false });
    expect(expectedWeights(t, 'fc_1')).toEqual([{ key: 'kernel', shape: [400, 120] }]);
    expect(() => t.setConfig('fc_1', { name: 'other' })).toThrow(/use renameLayer/);
  });
});
