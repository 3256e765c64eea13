import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { architectureMisfit, buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';

const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 1 };

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('builtin architectures', () => {
  const cases: [string, Record<string, unknown>, string[], [number, number]][] = [
    ['mlp', {}, ['fc_1', 'fc_2', 'predictions'], [266_610, 266_610]],
    ['lenet5', {}, ['conv_1', 'pool_1', 'conv_2', 'pool_2', 'fc_1', 'fc_2', 'predictions'], [40_000, 80_000]],
    // The Caffe LeNet of Deep Compression: 520 + 25,050 + 400,500 + 5,010 parameters.
    [
      'lenet5',
      { filters: [20, 50], hidden: [500], padding: 'valid' },
      ['conv_1', 'conv_2', 'fc_1', 'predictions'],
      [431_080, 431_080],
    ],
    [
      'mobilenet-v1',
      { alpha: 0.5 },
      ['conv1', 'conv1_bn', 'conv_dw_1', 'conv_pw_1', 'conv_pw_7_bn', 'predictions'],
      [100_000, 200_000],
    ],
    [
      'mobilenet-v2',
      { alpha: 0.5 },
      [
        'Conv1',
        'expanded_conv_depthwise',
        'block_1_expand',
        'block_2_add',
        'block_7_project_BN',
        'Conv_1',
        'predictions',
      ],
      [30_000, 200_000],
    ],
  ];
  for (const [name, options, layerNames, [minParams, maxParams]] of cases) {
    it(`${name} ${JSON.stringify(options)}: readable layer names, [batch, 10] softmax output, stock layer classes`, () => {
      const before = tf.memory().numTensors;
      const model = buildArchitecture(tf, name, options, shape);
      const names = model.layers.map((l) => l.name);
      for (const n of layerNames) expect(names).toContain(n);
      expect(model.countParams()).toBeGreaterThanOrEqual(minParams);
      expect(model.countParams()).toBeLessThanOrEqual(maxParams);
      const y = tf.tidy(() => model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor);
      expect(y.shape).toEqual([2, 10]);
      const sum = tf.tidy(() => y.sum(-1));
      const sums = Array.from(sum.dataSync());
      sum.dispose();
      for (const s of sums) expect(s).toBeCloseTo(1, 5);
      tf.dispose(y);
      const classes = new Set(model.layers.map((l) => l.getClassName()));
      for (const c of classes)
        expect([
          'InputLayer',
          'Conv2D',
          'DepthwiseConv2D',
          'BatchNormalization',
          'ReLU',
          'Add',
          'GlobalAveragePooling2D',
          'Dense',
          'Flatten',
          'MaxPooling2D',
        ]).toContain(c);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('alpha scales the width and depthMultiplier the depthwise channels', () => {
    const small = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0 }, shape);
    const large = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.5, depth: 0 }, shape);
    const multiplied = buildArchitecture(tf, 'mobilenet-v1', { alpha: 0.25, depth: 0, depthMultiplier: 2 }, shape);
    expect(large.countParams()).toBeGreaterThan(2.5 * small.countParams());
    expect((multiplied.getLayer('conv_dw_1').getWeights()[0]!.shape as number[])[3]).toBe(2);
    [small, large, multiplied].forEach((m) => m.dispose());
  });

  it('the same seed gives the same initial weights, another seed others', async () => {
    const a = await fromLayersModel(tf, buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.35 }, shape));
    const b = await fromLayersModel(tf, buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.35 }, shape));
    const c = await fromLayersModel(tf, buildArchitecture(tf, 'mobilenet-v2', { alpha: 0.35 }, { ...shape, seed: 2 }));
    expect(Buffer.from(a.weightData).equals(Buffer.from(b.weightData))).toBe(true);
    expect(Buffer.from(a.weightData).equals(Buffer.from(c.weightData))).toBe(false);
  });

  it('says when an architecture does not fit the data', () => {
    expect(architectureMisfit('lenet5', [28, 28, 1])).toBeUndefined();
    expect(architectureMisfit('lenet5', [8, 8, 1])).toBe(
      'lenet5 needs images of at least 12×12 pixels, but the data is 8×8',
    );
    expect(architectureMisfit('lenet5', [14, 14, 1], { padding: 'valid' })).toBe(
      'lenet5 needs images of at least 16×16 pixels, but the data is 14×14',
    );
    expect(architectureMisfit('lenet5', [16, 16, 1], { padding: 'valid' })).toBeUndefined();
    expect(architectureMisfit('mobilenet-v1', [784])).toMatch(
      /takes images \[height, width, channels\], but the data has samples of shape \[784\]/,
    );
    expect(architectureMisfit('mlp', [784])).toBeUndefined();
    expect(architectureMisfit('resnet', [28, 28, 1])).toMatch(
      /unknown architecture "resnet"; known: mlp, lenet5, mobilenet-v1, mobilenet-v2/,
    );
  });
});
