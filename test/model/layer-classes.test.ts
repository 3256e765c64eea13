/**
 * The layer catalogue (src/model/layer-classes.ts) against the two things it describes: TF.js's own layers
 * (every weight a real layer creates, in order and shape, and where its channels are) and hand-computed costs
 * of known layers (written out here, not taken from the formulas).
 */
import * as tf from '@tensorflow/tfjs';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import {
  compressedWeight,
  compressedWeightByKey,
  expectedWeights,
  layerClass,
  layerClassNames,
  layerOutputShape,
  outputChannelCount,
  Topology,
  weightKey,
  weightLayer,
  weightRole,
  type CostInput,
  type Shape,
} from '../../src/model/index.js';
import { ROOT } from '../helpers.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

/** A one-layer model of `layer` on an input of `inputShape`, as mcbuild stores it, and TF.js's output channels. */
async function single(layer: tf.layers.Layer, inputShape: number[]) {
  const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape }), layer] });
  const stored = await fromLayersModel(tf, model);
  const outChannels = (layer.outputShape as number[]).at(-1)!;
  model.dispose();
  return { model: stored, outChannels };
}

/** Real TF.js layers of every class whose weights the catalogue lists, with configs that exercise its options. */
const LAYERS: [string, () => tf.layers.Layer, number[]][] = [
  ['Dense', () => tf.layers.dense({ units: 7 }), [5]],
  ['Dense', () => tf.layers.dense({ units: 7, useBias: false }), [3, 5]],
  ['Conv2D', () => tf.layers.conv2d({ filters: 6, kernelSize: [3, 2] }), [8, 8, 3]],
  ['DepthwiseConv2D', () => tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2 }), [8, 8, 3]],
  // depthMultiplier 1: TF.js's SeparableConv2D leaves depth_multiplier out of its saved config, so a model
  // saved with another multiplier does not load back in TF.js either.
  ['SeparableConv2D', () => tf.layers.separableConv2d({ filters: 5, kernelSize: 3 }), [8, 8, 3]],
  ['BatchNormalization', () => tf.layers.batchNormalization(), [4, 4, 6]],
  ['BatchNormalization', () => tf.layers.batchNormalization({ axis: 1, scale: false, center: false }), [4, 6]],
  ['LayerNormalization', () => tf.layers.layerNormalization(), [6]],
  ['PReLU', () => tf.layers.prelu(), [6]],
  ['Conv1D', () => tf.layers.conv1d({ filters: 4, kernelSize: 3 }), [10, 3]],
  ['Embedding', () => tf.layers.embedding({ inputDim: 20, outputDim: 4 }), [6]],
];

describe('weights of real TF.js layers', () => {
  it.each(LAYERS)('%s: every weight TF.js creates is a known role, in order', async (cls, make, inputShape) => {
    const { model } = await single(make(), inputShape);
    const topology = Topology.fromModel(model.json);
    const name = topology.names().at(-1)!;
    expect(topology.className(name)).toBe(cls);
    const keys = model.weightSpecs.map((s) => weightKey(s.name));
    for (const key of keys) expect(weightRole(cls, key), `${cls}/${key}`).toBeDefined();
    // The roles the config leaves in, in the order Keras creates them.
    const config = topology.config(name);
    const roles = layerClass(cls)!.weights!.filter((r) => r.unless === undefined || config[r.unless] !== false);
    expect(keys).toEqual(roles.map((r) => r.key));
    // Where the catalogue gives shapes, they are TF.js's.
    const expected = expectedWeights(topology, name);
    if (roles.every((r) => r.shape))
      expect(expected).toEqual(model.weightSpecs.map((s) => ({ key: weightKey(s.name), shape: s.shape })));
    else expect(expected).toBeUndefined();
  });

  it('channel axes: a kernel or bias has as many output channels as its layer outputs, and reads its input channels', async () => {
    for (const [cls, make, inputShape] of LAYERS) {
      const { model, outChannels: out } = await single(make(), inputShape);
      const topology = Topology.fromModel(model.json);
      const name = topology.names().at(-1)!;
      const inChannels = inputShape.at(-1)!;
      for (const spec of model.weightSpecs) {
        const role = weightRole(cls, weightKey(spec.name))!;
        // A separable layer's depthwise kernel makes its intermediate channels; PReLU's alpha and the
        // embeddings table are per position and per token; a batch norm on axis 1 is not on the last axis.
        const own =
          (cls === 'SeparableConv2D' && role.key === 'depthwise_kernel') ||
          cls === 'PReLU' ||
          cls === 'Embedding' ||
          (cls === 'BatchNormalization' && topology.config(name).axis !== -1 && topology.config(name).axis !== 3);
        if (!own) expect(outputChannelCount(role, spec.shape), `${cls}/${role.key}`).toBe(out);
        if (role.inputAxis !== undefined && role.key !== 'pointwise_kernel')
          expect(spec.shape.at(role.inputAxis), `${cls}/${role.key}`).toBe(inChannels);
      }
    }
  });

  it('every weight of the builtin architectures belongs to a layer whose class the catalogue knows, with its shapes', async () => {
    for (const arch of ['mlp', 'lenet5', 'mobilenet-v1', 'mobilenet-v2']) {
      const built = buildArchitecture(tf, arch, {}, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
      const model = await fromLayersModel(tf, built);
      built.dispose();
      const topology = Topology.fromModel(model.json);
      for (const spec of model.weightSpecs) {
        const cls = topology.className(weightLayer(spec.name)!);
        expect(weightRole(cls, weightKey(spec.name)), `${arch}: ${spec.name} (${cls})`).toBeDefined();
      }
      for (const name of topology.names()) {
        const entry = layerClass(topology.className(name));
        expect(entry?.shape, `${arch}: ${name}`).toBeDefined();
        expect(entry?.cost, `${arch}: ${name}`).toBeDefined();
        expect(expectedWeights(topology, name), `${arch}: ${name}`).toEqual(
          model.weightSpecs
            .filter((s) => weightLayer(s.name) === name)
            .map((s) => ({ key: weightKey(s.name), shape: s.shape })),
        );
      }
    }
  });
});

describe('what the compression passes may touch', () => {
  it('prune, quantize and cluster act on the kernels of Dense, Conv2D and DepthwiseConv2D, nothing else', () => {
    for (const pass of ['prune', 'quantize', 'cluster'] as const) {
      const kernels = layerClassNames().flatMap((c) => {
        const k = compressedWeight(c, pass);
        return k ? [`${c}/${k.key}`] : [];
      });
      expect(kernels).toEqual(['Dense/kernel', 'Conv2D/kernel', 'DepthwiseConv2D/depthwise_kernel']);
      // By weight name alone (graph models): the same two keys.
      expect(compressedWeightByKey('kernel', pass)?.outputAxis).toBe(-1);
      expect(compressedWeightByKey('depthwise_kernel', pass)?.outputAxis).toBe(-2);
      expect(compressedWeightByKey('pointwise_kernel', pass)).toBeUndefined();
      expect(compressedWeightByKey('bias', pass)).toBeUndefined();
    }
  });

  it('fold-batchnorm, lowrank and prune-channels', () => {
    const where = (f: (c: string) => unknown) => layerClassNames().filter((c) => f(c));
    expect(where((c) => layerClass(c)!.foldsBatchNormInto)).toEqual(['Dense', 'Conv2D', 'DepthwiseConv2D']);
    expect(where((c) => layerClass(c)!.lowrank === true)).toEqual(['Dense', 'Conv2D']);
    expect(where((c) => typeof layerClass(c)!.lowrank === 'string')).toEqual(['DepthwiseConv2D', 'SeparableConv2D']);
    expect(where((c) => layerClass(c)!.channels === 'root')).toEqual(['Dense', 'Conv2D']);
    for (const c of where((c) => layerClass(c)!.foldsBatchNormInto))
      expect(weightRole(c, layerClass(c)!.foldsBatchNormInto!)).toBe(compressedWeight(c, 'prune'));
    for (const c of where((c) => layerClass(c)!.channels === 'root' || layerClass(c)!.lowrank === true))
      expect(layerClass(c)!.outputChannels).toBeDefined();
  });

  it('looks up own properties only', () => {
    expect(layerClass('constructor')).toBeUndefined();
    expect(layerClass('toString')).toBeUndefined();
    expect(compressedWeight('hasOwnProperty', 'prune')).toBeUndefined();
  });
});

describe('shape rules', () => {
  it('every class with a rule of its own has one in layerOutputShape; the others are refused as unknown', () => {
    const configs: Record<string, [Record<string, unknown>, Shape[]]> = {
      InputLayer: [{ batch_input_shape: [null, 4] }, []],
      Dense: [{ units: 3 }, [[null, 4]]],
      Conv2D: [{ filters: 2, kernel_size: 3 }, [[null, 8, 8, 1]]],
      DepthwiseConv2D: [{ kernel_size: 3 }, [[null, 8, 8, 1]]],
      SeparableConv2D: [{ filters: 2, kernel_size: 3 }, [[null, 8, 8, 1]]],
      Concatenate: [
        {},
        [
          [null, 4],
          [null, 2],
        ],
      ],
      Flatten: [{}, [[null, 2, 2, 3]]],
      Reshape: [{ target_shape: [12] }, [[null, 2, 2, 3]]],
      ZeroPadding2D: [{}, [[null, 2, 2, 3]]],
      MaxPooling2D: [{}, [[null, 4, 4, 3]]],
      AveragePooling2D: [{}, [[null, 4, 4, 3]]],
      GlobalAveragePooling2D: [{}, [[null, 4, 4, 3]]],
      GlobalMaxPooling2D: [{}, [[null, 4, 4, 3]]],
    };
    const own = layerClassNames().filter((c) => layerClass(c)!.shape === 'own');
    expect(own.sort()).toEqual(Object.keys(configs).sort());
    for (const c of own) expect(() => layerOutputShape('l', c, ...configs[c]!), c).not.toThrow();
    for (const c of layerClassNames().filter((c) => layerClass(c)!.shape === undefined))
      expect(() => layerOutputShape('l', c, {}, [[null, 4]]), c).toThrow(/does not know layer class/);
    expect(layerOutputShape('l', 'ReLU', {}, [[null, 3, 5]])).toEqual([null, 3, 5]);
    expect(
      layerOutputShape('l', 'Add', {}, [
        [null, 1, 5],
        [null, 4, 1],
      ]),
    ).toEqual([null, 4, 5]);
  });

  it('every class with a shape rule has a cost rule (a model of known classes is counted or says why not)', () => {
    for (const c of layerClassNames())
      expect(layerClass(c)!.shape === undefined, c).toBe(layerClass(c)!.cost === undefined);
  });
});

describe('MAC and FLOP formulas on known layers', () => {
  const cost = (className: string, config: Record<string, unknown>, inputs: Shape[], output: Shape) => {
    const rule = layerClass(className)!.cost!;
    if (typeof rule === 'string') return rule;
    const l: CostInput = { name: 'l', className, config, inputs, output };
    return rule(l);
  };

  it('Dense: in·out MACs; FLOPs add a bias per output', () => {
    expect(cost('Dense', { units: 10 }, [[null, 100]], [null, 10])).toEqual({ macs: 1000, flops: 2010 });
    expect(cost('Dense', { units: 10, use_bias: false }, [[null, 100]], [null, 10])).toEqual({
      macs: 1000,
      flops: 2000,
    });
    // Applied at every position of a 3-D input.
    expect(cost('Dense', { units: 4 }, [[null, 5, 3]], [null, 5, 4])).toEqual({ macs: 60, flops: 140 });
  });

  it('Conv2D: outputs · kh·kw·cin', () => {
    expect(cost('Conv2D', { filters: 16, kernel_size: [3, 2] }, [[null, 12, 11, 8]], [null, 10, 10, 16])).toEqual({
      macs: 10 * 10 * 16 * 3 * 2 * 8,
      flops: 2 * 10 * 10 * 16 * 6 * 8 + 1600,
    });
  });

  it('DepthwiseConv2D: outputs · kh·kw (no sum over channels)', () => {
    const out: Shape = [null, 6, 6, 8];
    expect(cost('DepthwiseConv2D', { kernel_size: 3, depth_multiplier: 2 }, [[null, 8, 8, 4]], out)).toEqual({
      macs: 6 * 6 * 8 * 9,
      flops: 2 * 6 * 6 * 8 * 9 + 6 * 6 * 8,
    });
  });

  it('SeparableConv2D: the depthwise part at every position, then the pointwise part per output', () => {
    const c = cost(
      'SeparableConv2D',
      { filters: 5, kernel_size: 3, depth_multiplier: 2, use_bias: false },
      [[null, 8, 8, 3]],
      [null, 6, 6, 5],
    );
    expect(c).toEqual({ macs: 36 * 6 * 9 + 36 * 5 * 6, flops: 2 * (36 * 6 * 9 + 36 * 5 * 6) });
  });

  it('BatchNormalization: a multiply and an add per element', () => {
    expect(cost('BatchNormalization', {}, [[null, 4, 4, 6]], [null, 4, 4, 6])).toEqual({ macs: 0, flops: 192 });
  });

  it('pooling: compares or adds of the in-bounds part of each window', () => {
    // 2×2 windows, stride 2 over 4×4×3: 4 windows of 4 reads per channel.
    expect(cost('MaxPooling2D', {}, [[null, 4, 4, 3]], [null, 2, 2, 3])).toEqual({ macs: 0, flops: 3 * 4 * 3 });
    expect(cost('AveragePooling2D', {}, [[null, 4, 4, 3]], [null, 2, 2, 3])).toEqual({ macs: 0, flops: 3 * 4 * 4 });
    // 3×3 'same' windows, stride 1 over 3×3: reads per axis 2 + 3 + 2 = 7, so 49 per channel.
    const same = { pool_size: 3, strides: 1, padding: 'same' };
    expect(cost('AveragePooling2D', same, [[null, 3, 3, 1]], [null, 3, 3, 1])).toEqual({ macs: 0, flops: 49 });
    expect(cost('MaxPooling2D', same, [[null, 3, 3, 1]], [null, 3, 3, 1])).toEqual({ macs: 0, flops: 40 });
    expect(cost('GlobalAveragePooling2D', {}, [[null, 4, 4, 3]], [null, 3])).toEqual({ macs: 0, flops: 48 });
    expect(cost('GlobalMaxPooling2D', {}, [[null, 4, 4, 3]], [null, 3])).toEqual({ macs: 0, flops: 45 });
  });

  it('merges: one op per extra input per element; Average also divides', () => {
    const ins: Shape[] = [
      [null, 5],
      [null, 5],
      [null, 5],
    ];
    expect(cost('Add', {}, ins, [null, 5])).toEqual({ macs: 0, flops: 10 });
    expect(cost('Maximum', {}, ins, [null, 5])).toEqual({ macs: 0, flops: 10 });
    expect(cost('Average', {}, ins, [null, 5])).toEqual({ macs: 0, flops: 15 });
  });

  it('activations, reshapes and dropout are free; LayerNormalization and PReLU are not counted', () => {
    for (const c of [
      'ReLU',
      'Activation',
      'Dropout',
      'Flatten',
      'Reshape',
      'ZeroPadding2D',
      'Concatenate',
      'InputLayer',
    ])
      expect(cost(c, {}, [], [null]), c).toBe('free');
    expect(cost('LayerNormalization', {}, [], [null])).toBe('uncounted');
    expect(cost('PReLU', {}, [], [null])).toBe('uncounted');
  });
});

describe('src/model stays TF.js-free and low in the layer order', () => {
  it('imports only runtime/, util/, errors.ts, node: modules and its own files', () => {
    const dir = join(ROOT, 'src', 'model');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g))
        expect(spec, `${f} imports ${spec}`).toMatch(/^(\.\/|\.\.\/runtime\/|\.\.\/util\/|\.\.\/errors\.js$|node:)/);
    }
  });
});
