/**
 * MACs and FLOPs of the builtin architectures against hand-computed formulas (written out here from each
 * architecture's definition, not from the counter), and pooling against brute-force window enumeration.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { Topology } from '../../src/model/index.js';
import { countCost, modelCost, type ModelCost } from '../../src/metrics/flops.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

async function cost(arch: string, options: Record<string, unknown> = {}): Promise<ModelCost> {
  const model = buildArchitecture(tf, arch, options, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const stored = await fromLayersModel(tf, model);
  model.dispose();
  const c = modelCost(stored.json);
  if ('unavailable' in c) throw new Error(c.unavailable);
  return c;
}

describe('MACs of the builtin architectures', () => {
  it('mlp (LeNet-300-100): 784·300 + 300·100 + 100·10 = 266,200 MACs; FLOPs add the 410 biases', async () => {
    const c = await cost('mlp');
    expect(c.macs).toBe(266_200);
    expect(c.flops).toBe(2 * 266_200 + 300 + 100 + 10);
  });

  it('lenet5: 416,520 MACs; FLOPs count biases and the 3 compares of each 2×2 max-pool window', async () => {
    const c = await cost('lenet5');
    // conv_1 28·28·6·(5·5·1), conv_2 10·10·16·(5·5·6), fc 400·120, 120·84, 84·10
    const macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * 10;
    expect(c.macs).toBe(macs);
    expect(macs).toBe(416_520);
    const biases = 28 * 28 * 6 + 10 * 10 * 16 + 120 + 84 + 10;
    const pools = 14 * 14 * 6 * 3 + 5 * 5 * 16 * 3;
    expect(c.flops).toBe(2 * macs + biases + pools);
    expect(c.layers.find((l) => l.name === 'pool_1')).toMatchObject({
      macs: 0,
      flops: 14 * 14 * 6 * 3,
      outputShape: [null, 14, 14, 6],
    });
  });

  it('lenet5, the Caffe LeNet of Deep Compression: 2,293,000 MACs', async () => {
    const c = await cost('lenet5', { filters: [20, 50], hidden: [500], padding: 'valid' });
    expect(c.macs).toBe(24 * 24 * 20 * 25 + 8 * 8 * 50 * 25 * 20 + 800 * 500 + 500 * 10);
    expect(c.macs).toBe(2_293_000);
  });

  for (const options of [{}, { alpha: 0.25, depthMultiplier: 2, depth: 2 }] as Record<string, number>[]) {
    it(`mobilenet-v1 ${JSON.stringify(options)}: stem + depthwise 3×3 + pointwise per block + classifier`, async () => {
      const alpha = options.alpha ?? 0.5;
      const dm = options.depthMultiplier ?? 1;
      const width = (c: number) => Math.max(8, Math.round(c * alpha));
      let side = 28;
      let ch = width(32);
      let macs = side * side * ch * 9;
      let bnElements = side * side * ch;
      const blocks = [
        [64, 1],
        [128, 2],
        [128, 1],
        [256, 2],
        [256, 1],
        [512, 2],
        ...Array.from({ length: options.depth ?? 1 }, () => [512, 1]),
      ];
      for (const [filters, stride] of blocks) {
        side = Math.ceil(side / stride!);
        macs += side * side * ch * dm * 9; // depthwise: one 3×3 window per output channel
        bnElements += side * side * ch * dm;
        macs += side * side * ch * dm * width(filters!); // pointwise 1×1
        ch = width(filters!);
        bnElements += side * side * ch;
      }
      const gap = side * side * ch;
      macs += ch * 10;
      const c = await cost('mobilenet-v1', options);
      expect(c.macs).toBe(macs);
      // No conv has a bias; BN 2 per element, global average pool one op per input element, classifier bias.
      expect(c.flops).toBe(2 * macs + 2 * bnElements + gap + 10);
      if (Object.keys(options).length === 0) expect(c.macs).toBe(4_920_384);
    });
  }

  it('mobilenet-v2: stem, expand / depthwise / project per block, the last 1×1 conv and the classifier', async () => {
    const alpha = 0.5;
    const width = (c: number) => Math.max(8, Math.round((c * alpha) / 8) * 8);
    let side = 28;
    let ch = width(32);
    let macs = side * side * ch * 9;
    let adds = 0;
    const spec = [
      [1, 16, 1],
      [6, 24, 2],
      [6, 24, 1],
      [6, 32, 2],
      [6, 32, 1],
      [6, 32, 1],
      [6, 64, 2],
      [6, 64, 1],
    ];
    for (const [t, c, stride] of spec) {
      const out = width(c!);
      const mid = ch * t!;
      if (t !== 1) macs += side * side * ch * mid;
      const next = Math.ceil(side / stride!);
      macs += next * next * mid * 9 + next * next * mid * out;
      if (stride === 1 && ch === out) adds += next * next * out;
      side = next;
      ch = out;
    }
    const last = Math.max(256, width(256));
    macs += side * side * ch * last + last * 10;
    const c = await cost('mobilenet-v2');
    expect(c.macs).toBe(macs);
    expect(c.macs).toBe(2_934_368);
    expect(c.layers.filter((l) => l.className === 'Add').reduce((n, l) => n + l.flops, 0)).toBe(adds);
  });
});

describe('pooling and what cannot be counted', () => {
  it('max and average pooling count the in-bounds elements of every window, as a brute-force count does', async () => {
    for (const [size, pool, stride, padding] of [
      [7, 3, 2, 'same'],
      [8, 2, 2, 'same'],
      [9, 3, 1, 'same'],
      [9, 3, 2, 'valid'],
      [5, 4, 3, 'same'],
    ] as const) {
      const input = tf.input({ shape: [size, size + 1, 2] });
      const max = tf.layers
        .maxPooling2d({ poolSize: pool, strides: stride, padding, name: 'max' })
        .apply(input) as tf.SymbolicTensor;
      const avg = tf.layers
        .averagePooling2d({ poolSize: pool, strides: stride, padding, name: 'avg' })
        .apply(max) as tf.SymbolicTensor;
      const stored = await fromLayersModel(tf, tf.model({ inputs: input, outputs: avg }));
      const t = Topology.fromModel(stored.json);
      const c = countCost(t);
      // Enumerate windows the way TF pads them ('same': floor(total / 2) before).
      const reads = (n: number, o: number) => {
        const padBefore = padding === 'same' ? Math.floor(Math.max(0, (o - 1) * stride + pool - n) / 2) : 0;
        let count = 0;
        for (let i = 0; i < o; i++)
          for (let k = 0; k < pool; k++) if (i * stride - padBefore + k >= 0 && i * stride - padBefore + k < n) count++;
        return count;
      };
      const [, h1, w1] = t.outputShape('max') as number[];
      const [, h2, w2] = t.outputShape('avg') as number[];
      const maxReads = reads(size, h1!) * reads(size + 1, w1!) * 2;
      expect(c.layers.find((l) => l.name === 'max')!.flops).toBe(maxReads - h1! * w1! * 2);
      expect(c.layers.find((l) => l.name === 'avg')!.flops).toBe(reads(h1!, h2!) * reads(w1!, w2!) * 2);
    }
  });

  it('a graph model or an unknown layer class is not counted, with the reason', () => {
    expect(modelCost({ format: 'graph-model', modelTopology: { node: [] } })).toEqual({
      unavailable: expect.stringMatching(/graph model/),
    });
    const json = {
      modelTopology: {
        class_name: 'Sequential',
        config: {
          layers: [
            { class_name: 'Dense', config: { name: 'a', units: 3, batch_input_shape: [null, 5] } },
            { class_name: 'LSTM', config: { name: 'b' } },
          ],
        },
      },
    };
    expect(modelCost(json)).toEqual({ unavailable: expect.stringMatching(/mcbuild does not know layer class LSTM/) });
  });
});
