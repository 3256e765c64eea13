/**
 * The converter-true fixtures of test/fixtures/models load in stock TF.js (tf.loadLayersModel / tf.loadGraphModel
 * from their folders) and give finite, spread outputs of the declared shapes; their model.json files are what
 * tensorflowjs_converter writes (shards, quantization entries, fused-op attributes, Keras 3 configs).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../src/engine/runtime.js';
import { modelToFiles, readModelDir } from '../src/model/index.js';
import {
  batchnormGraph,
  detectorGraph,
  detectorGraphUint8,
  embeddingGraph,
  mobilenetV2Graph,
  mobilenetV2Keras3,
  mobilenetV2Layers,
  nestedLayers,
  nestedLayersKeras3,
  type ModelFixture,
} from './fixtures/models/index.js';
import { folderHandler, loadGraphFixture, loadLayersFixture } from './fixtures/models/load.js';
import { tempDir } from './helpers.js';
import { mulberry32 } from '../src/util/random.js';

const work = tempDir('mcbuild-fixtures-models-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await loadEngine((process.env.FIXTURE_BACKEND ?? 'wasm') as 'wasm');
});

/** A seeded input batch in the model's range: images in [-1, 1] (float) or 0..255 (int32). */
function input(shape: number[], dtype: 'float32' | 'int32', batch: number, seed: number): tf.Tensor {
  const dims = shape.map((d) => (d === -1 ? batch : d));
  const n = dims.reduce((a, b) => a * b, 1);
  const random = mulberry32(seed);
  if (dtype === 'int32')
    return tf.tensor(
      Int32Array.from({ length: n }, () => Math.floor(random() * 256)),
      dims,
    );
  return tf.tensor(
    Float32Array.from({ length: n }, () => random() * 2 - 1),
    dims,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- model.json as parsed: its shape is what is tested
type Json = any;

function json(f: ModelFixture): Json {
  return JSON.parse(readFileSync(f.modelJson, 'utf8'));
}

/** Spread of each row of a [batch, classes] softmax: finite, sums to 1, neither one-hot nor uniform. */
function expectSpreadSoftmax(values: Float32Array, classes: number) {
  for (let r = 0; r < values.length / classes; r++) {
    const row = values.subarray(r * classes, (r + 1) * classes);
    let sum = 0;
    let max = 0;
    let entropy = 0;
    for (const p of row) {
      expect(Number.isFinite(p)).toBe(true);
      sum += p;
      max = Math.max(max, p);
      if (p > 0) entropy -= p * Math.log(p);
    }
    expect(sum).toBeCloseTo(1, 3);
    expect(max).toBeLessThan(0.9);
    expect(entropy).toBeGreaterThan(0.5);
    expect(entropy).toBeLessThan(Math.log(classes) - 0.01);
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

const decode = (s: string) => Buffer.from(s, 'base64').toString();

describe('MobileNetV2 fixtures (224×224×3, 1000 classes)', () => {
  let float: Float32Array;

  it('layers model (Keras 2 form): loads in stock TF.js and predicts a spread softmax', async () => {
    const f = await mobilenetV2Layers();
    expect(f.params).toBe(3538984);
    const j = json(f);
    expect(j.format).toBe('layers-model');
    expect(j.generatedBy).toBe('keras v2.15.0');
    expect(j.convertedBy).toMatch(/^TensorFlow\.js Converter v/);
    expect(j.modelTopology.model_config.config.layers[0].config.batch_input_shape).toEqual([null, 224, 224, 3]);
    expect(j.weightsManifest[0].paths).toEqual([
      'group1-shard1of4.bin',
      'group1-shard2of4.bin',
      'group1-shard3of4.bin',
      'group1-shard4of4.bin',
    ]);
    expect(statSync(join(f.dir, 'group1-shard1of4.bin')).size).toBe(4 * 1024 * 1024);
    expect(
      j.weightsManifest[0].weights.find((w: { name: string }) => w.name === 'block_1_depthwise/depthwise_kernel').shape,
    ).toEqual([3, 3, 96, 1]);

    const model = await loadLayersFixture(tf, f);
    const x = input(f.inputs[0]!.shape, 'float32', 2, 1);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 1000]);
    float = (await y.data()) as Float32Array;
    expectSpreadSoftmax(float, 1000);
    // Two different images give different outputs.
    expect(cosine(float.subarray(0, 1000), float.subarray(1000))).toBeLessThan(0.9999);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('layers model with a uint8 manifest: every float32 weight stored uint8, predictions close to float32', async () => {
    const f = await mobilenetV2Layers({ quantization: 'uint8' });
    const j = json(f);
    expect(j.weightsManifest[0].paths).toEqual(['group1-shard1of1.bin']);
    for (const w of j.weightsManifest[0].weights) {
      expect(w.dtype).toBe('float32');
      expect(w.quantization).toEqual({ dtype: 'uint8', min: expect.any(Number), scale: expect.any(Number) });
    }
    expect(f.weightBytes).toBe(f.params);
    const model = await loadLayersFixture(tf, f);
    const x = input(f.inputs[0]!.shape, 'float32', 2, 1);
    const y = model.predict(x) as tf.Tensor;
    const q = (await y.data()) as Float32Array;
    expectSpreadSoftmax(q, 1000);
    expect(cosine(q, float)).toBeGreaterThan(0.9);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('Keras 3 config: what keras 3.15 writes, which stock TF.js 4.22 refuses (batch_shape)', async () => {
    const f = await mobilenetV2Keras3({ quantization: 'float16' });
    const j = json(f);
    expect(j.generatedBy).toBe('keras v3.15.1');
    const layers = j.modelTopology.model_config.config.layers;
    expect(layers[0]).toMatchObject({
      class_name: 'InputLayer',
      config: { batch_shape: [null, 224, 224, 3], name: 'input_layer' },
    });
    expect(layers[1].config.dtype).toEqual({
      module: 'keras',
      class_name: 'DTypePolicy',
      config: { name: 'float32' },
      registered_name: null,
    });
    expect(layers[1].inbound_nodes[0].args[0].class_name).toBe('__keras_tensor__');
    expect(j.weightsManifest[0].weights[0].quantization).toEqual({ dtype: 'float16' });
    expect(f.weightBytes).toBe(2 * f.params);
    await expect(loadLayersFixture(tf, f)).rejects.toThrow();
  });

  it('graph model: converter fused ops, loads with tf.loadGraphModel, predicts like a classifier', async () => {
    const f = await mobilenetV2Graph();
    expect(f.inputs).toEqual([{ name: 'input_1', tensor: 'input_1:0', shape: [-1, 224, 224, 3], dtype: 'float32' }]);
    expect(f.outputs).toEqual([{ name: 'predictions', tensor: 'Identity:0', shape: [-1, 1000], dtype: 'float32' }]);
    const nodes = json(f).modelTopology.node as { op: string; attr: Json }[];
    const count = (op: string) => nodes.filter((n) => n.op === op).length;
    expect(count('_FusedConv2D')).toBe(35);
    expect(count('FusedDepthwiseConv2dNative')).toBe(17);
    expect(count('_FusedMatMul')).toBe(1);
    const conv = nodes.find((n) => n.op === '_FusedConv2D')!;
    expect(conv.attr.fused_ops.list.s.map(decode)).toEqual(['BiasAdd', 'Relu6']);
    expect(conv.attr.num_args).toEqual({ i: '1' });
    expect(conv.attr.explicit_paddings).toEqual({ list: {} });
    expect(conv.attr.T).toEqual({ type: 'DT_FLOAT' });

    const model = await loadGraphFixture(tf, f);
    const x = input(f.inputs[0]!.shape, 'float32', 2, 1);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 1000]);
    const probs = (await y.data()) as Float32Array;
    expectSpreadSoftmax(probs, 1000);
    model.dispose();

    // --quantize_uint8: float constants stored uint8, int32 ones (Mean's axes) as they were.
    const q = await mobilenetV2Graph({ quantization: 'uint8' });
    const specs = json(q).weightsManifest[0].weights as { name: string; dtype: string; quantization?: object }[];
    const axes = specs.find((w) => w.name.endsWith('Mean/reduction_indices'))!;
    expect(axes).toEqual({ name: axes.name, shape: [2], dtype: 'int32' });
    expect(specs.filter((w) => w.dtype === 'float32').every((w) => w.quantization)).toBe(true);
    const quantized = await loadGraphFixture(tf, q);
    const yq = quantized.predict(x) as tf.Tensor;
    expect(cosine((await yq.data()) as Float32Array, probs)).toBeGreaterThan(0.9);
    tf.dispose([x, y, yq]);
    quantized.dispose();
  });
});

describe('detector and embedding fixtures', () => {
  it('detector: int32 input, a loop (executeAsync), four outputs of different widths', async () => {
    const f = await detectorGraph();
    expect(f.inputs).toEqual([{ name: 'image', tensor: 'image:0', shape: [1, 96, 96, 3], dtype: 'int32' }]);
    const shapes = Object.fromEntries(f.outputs.map((o) => [o.name, o.shape]));
    expect(shapes).toEqual({ boxes: [1, 1152, 4], scores: [1, 1152, 1], keypoints: [1, 1152, 10], refinement: [1, 3] });
    const ops = new Set((json(f).modelTopology.node as { op: string }[]).map((n) => n.op));
    for (const op of ['Cast', 'Pad', 'ResizeBilinear', 'ConcatV2', 'While', '_FusedConv2D']) expect(ops).toContain(op);

    const library = json(f).modelTopology.library.function as { nodeDef: { op: string }[] }[];
    expect(library.flatMap((fn) => fn.nodeDef.map((n) => n.op))).toEqual(
      expect.arrayContaining(['Less', 'MatMul', 'Tanh']),
    );

    const model = await loadGraphFixture(tf, f);
    const x = input([1, 96, 96, 3], 'int32', 1, 3);
    // Control flow: the synchronous predict refuses, as it does on any converted model with a loop.
    expect(() => model.predict(x)).toThrow(/executeAsync/);
    const names = f.outputs.map((o) => o.name);
    const ys = (await model.executeAsync({ image: x }, names)) as tf.Tensor[];
    for (const [i, y] of ys.entries()) {
      expect(y.shape).toEqual(f.outputs[i]!.shape);
      const v = (await y.data()) as Float32Array;
      expect(v.every(Number.isFinite)).toBe(true);
      expect(Math.max(...v) - Math.min(...v), names[i]).toBeGreaterThan(1e-3);
    }
    const scores = (await ys[names.indexOf('scores')]!.data()) as Float32Array;
    expect(scores.every((s) => s > 0 && s < 1)).toBe(true);
    tf.dispose([x, ...ys]);
    model.dispose();
  });

  it('embedding: 128-d L2-normalised rows, PReLU fused into a _FusedConv2D', async () => {
    const f = await embeddingGraph();
    expect(f.outputs).toEqual([{ name: 'embedding', tensor: 'Identity:0', shape: [-1, 128], dtype: 'float32' }]);
    const nodes = json(f).modelTopology.node as { op: string; attr: Json }[];
    expect(nodes.some((n) => n.op === '_FusedConv2D' && n.attr.fused_ops.list.s.map(decode).includes('Prelu'))).toBe(
      true,
    );
    const model = await loadGraphFixture(tf, f);
    const x = input(f.inputs[0]!.shape, 'float32', 2, 5);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 128]);
    const v = (await y.data()) as Float32Array;
    for (const r of [0, 1]) {
      const row = v.subarray(r * 128, (r + 1) * 128);
      expect(Math.hypot(...row)).toBeCloseTo(1, 4);
      expect(Math.max(...row) - Math.min(...row)).toBeGreaterThan(0.05);
    }
    expect(cosine(v.subarray(0, 128), v.subarray(128))).toBeLessThan(0.9999);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('batch norm left unfolded: Conv2D → FusedBatchNormV3 runs in stock TF.js', async () => {
    const f = await batchnormGraph();
    const nodes = json(f).modelTopology.node as { name: string; op: string; input?: string[]; attr: Json }[];
    const bn = nodes.find((n) => n.op === 'FusedBatchNormV3')!;
    expect(nodes.find((n) => n.name === bn.input![0])!.op).toBe('Conv2D');
    expect(bn.attr.is_training).toEqual({ b: false });
    const specs = json(f).weightsManifest[0].weights as { name: string; shape: number[] }[];
    for (const input of bn.input!.slice(1)) expect(specs.find((w) => w.name === input)!.shape).toEqual([64]);
    const model = await loadGraphFixture(tf, f);
    const x = input(f.inputs[0]!.shape, 'float32', 2, 5);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 128]);
    const v = (await y.data()) as Float32Array;
    expect(Math.hypot(...v.subarray(0, 128))).toBeCloseTo(1, 4);
    expect(cosine(v.subarray(0, 128), v.subarray(128))).toBeLessThan(0.9999);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('detector with a uint8 input: the graph says DT_UINT8, TF.js takes int32 values 0..255', async () => {
    const f = await detectorGraphUint8();
    expect(f.inputs).toEqual([{ name: 'image', tensor: 'image:0', shape: [1, 96, 96, 3], dtype: 'uint8' }]);
    const cast = (json(f).modelTopology.node as { op: string; attr: Json }[]).find((n) => n.op === 'Cast')!;
    expect(cast.attr.SrcT).toEqual({ type: 'DT_UINT8' });
    const model = await loadGraphFixture(tf, f);
    const x = input([1, 96, 96, 3], 'int32', 1, 3);
    const ys = (await model.executeAsync({ image: x }, ['scores', 'refinement'])) as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual([
      [1, 1152, 1],
      [1, 3],
    ]);
    // The same weights (same seed, same names) and the same values: the int32 model's outputs.
    const same = await loadGraphFixture(tf, await detectorGraph());
    const ref = (await same.executeAsync({ image: x }, ['scores', 'refinement'])) as tf.Tensor[];
    for (const [i, y] of ys.entries()) expect(Array.from(await y.data())).toEqual(Array.from(await ref[i]!.data()));
    tf.dispose([x, ...ys, ...ref]);
    model.dispose();
    same.dispose();
  });

  it('nested model and shared layer (Keras 2 form): two outputs through stock TF.js', async () => {
    const f = await nestedLayers();
    const layers = json(f).modelTopology.model_config.config.layers as { class_name: string; name: string }[];
    expect(layers.map((l) => `${l.class_name}:${l.name}`)).toEqual([
      'InputLayer:image',
      'Functional:encoder',
      'Dense:proj',
      'Dense:mix',
      'Dense:classes',
    ]);
    expect(json(f).modelTopology.model_config.config.output_layers).toEqual([
      ['classes', 0, 0],
      ['proj', 1, 0],
    ]);
    const model = await loadLayersFixture(tf, f);
    expect(model.outputNames).toEqual(f.outputs.map((o) => o.name));
    const x = input(f.inputs[0]!.shape, 'float32', 2, 9);
    const [classes, proj] = model.predict(x) as tf.Tensor[];
    expect(classes!.shape).toEqual([2, 10]);
    expect(proj!.shape).toEqual([2, 32]);
    expectSpreadSoftmax((await classes!.data()) as Float32Array, 10);
    const p = (await proj!.data()) as Float32Array;
    expect(p.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(Math.max(...p)).toBeGreaterThan(0);
    tf.dispose([x, classes!, proj!]);
    model.dispose();
  });

  it('nested model in Keras 3 form: calls of the nested model renumbered as Keras 2 does, then stock TF.js runs it', async () => {
    const f = await nestedLayersKeras3();
    const config = json(f).modelTopology.model_config.config;
    // Keras 3 numbers the nested model's first call 0; Keras 2 (and TF.js) 1, its node 0 being its own build.
    const proj = config.layers.find((l: Json) => l.name === 'proj');
    expect(proj.inbound_nodes[0].args[0].config.keras_history).toEqual(['encoder', 0, 0]);
    await expect(loadLayersFixture(tf, f)).rejects.toThrow();

    // What mcbuild reads and writes is the Keras 2 form, reference for reference.
    const { model: stored } = await readModelDir(f.modelJson);
    const dir = join(work, 'nested-keras3');
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of modelToFiles(stored)) writeFileSync(join(dir, name), bytes);
    const written = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).modelTopology.model_config.config;
    const keras2 = json(await nestedLayers()).modelTopology.model_config.config;
    const refs = (c: Json) => ({
      inputs: c.input_layers,
      outputs: c.output_layers,
      calls: Object.fromEntries(c.layers.map((l: Json) => [l.name ?? l.config.name, l.inbound_nodes])),
    });
    expect(refs(written)).toEqual(refs(keras2));
    const encoder = (c: Json) => c.layers.find((l: Json) => l.class_name === 'Functional').config;
    expect(refs(encoder(written))).toEqual(refs(encoder(keras2)));

    const model = await tf.loadLayersModel(folderHandler(tf, dir));
    expect(model.outputNames).toEqual(f.outputs.map((o) => o.name));
    const x = input(f.inputs[0]!.shape, 'float32', 2, 9);
    const [classes, projected] = model.predict(x) as tf.Tensor[];
    expect([classes!.shape, projected!.shape]).toEqual([
      [2, 10],
      [2, 32],
    ]);
    expectSpreadSoftmax((await classes!.data()) as Float32Array, 10);
    tf.dispose([x, classes!, projected!]);
    model.dispose();
  });
});
