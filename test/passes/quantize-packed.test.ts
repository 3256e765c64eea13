/**
 * The packed int8/int4/int2 formats of the quantize pass: option checks, error bounds, the byte layout and
 * its round trips, and that the engine feeds TF.js exactly what the shared decoder produces.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import {
  filesToModel,
  modelToFiles,
  weightByteLength,
  type StoredModel,
  decodeWeights,
} from '../../src/model/index.js';
import { packWeight, type PackOptions } from '../../src/engine/packed.js';
import { fromLayersModel, loadEngine, loadForInference, toLayersModel } from '../../src/engine/runtime.js';
import { trainModel } from '../../src/engine/train.js';
import { measureAccuracy } from '../../src/metrics/accuracy.js';
import type { PassContext } from '../../src/passes/index.js';
import { quantize, type QuantizeOptions } from '../../src/passes/quantize/index.js';
import { decodePacked, readInt } from '../../src/runtime/decode.js';
import { mulberry32 } from '../../src/util/random.js';

const ctx = {} as PassContext;
const place = { path: ['passes', 0, 'quantize'], at: (o?: string) => `r.yaml:1:${o ?? ''}` };

beforeAll(async () => {
  // The engine's wasm set-up registers the training kernels MobileNet needs.
  await loadEngine('wasm');
});

function randomValues(n: number, seed: number, skew = 0.3): Float32Array {
  const r = mulberry32(seed);
  // Per-element magnitudes vary so channels and groups get different ranges.
  return Float32Array.from({ length: n }, (_, i) => (r() * 2 - 1 + skew) * (1 + (i % 7)) * 0.1);
}

/** A Dense → Conv2D → DepthwiseConv2D model, so every kernel kind and its axis is covered. */
async function convModel(): Promise<StoredModel> {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 2],
        filters: 6,
        kernelSize: 3,
        name: 'c1',
        kernelInitializer: tf.initializers.randomUniform({ minval: -0.4, maxval: 0.7, seed: 1 }),
      }),
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        depthMultiplier: 2,
        name: 'dw',
        depthwiseInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.3, seed: 2 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 5,
        name: 'd',
        kernelInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 1.1, seed: 3 }),
        biasInitializer: tf.initializers.constant({ value: 0.25 }),
      }),
    ],
  });
  const stored = await fromLayersModel(tf, m);
  m.dispose();
  return stored;
}

describe('packed quantize options', () => {
  it('resolves int formats with their defaults and the bits shorthand', () => {
    expect(quantize.resolveOptions({ dtype: 'int8' }, place)).toEqual({
      dtype: 'int8',
      granularity: 'per-tensor',
      symmetric: true,
      clip: 'none',
    });
    expect(quantize.resolveOptions({ bits: 4, granularity: 'per-group', groupSize: 16, clip: 'mse' }, place)).toEqual({
      dtype: 'int4',
      granularity: 'per-group',
      groupSize: 16,
      symmetric: true,
      clip: 'mse',
    });
    expect(quantize.resolveOptions({ bits: 2, symmetric: false }, place)).toMatchObject({
      dtype: 'int2',
      symmetric: false,
    });
    // Existing recipes resolve exactly as before (same cache keys).
    expect(quantize.resolveOptions({ dtype: 'uint8' }, place)).toEqual({ dtype: 'uint8', granularity: 'per-tensor' });
  });

  it('refuses combinations that make no sense, pointing at the option', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { dtype: 'uint8', granularity: 'per-channel' },
        /granularity per-channel with dtype uint8.*at r\.yaml:1:granularity/,
      ],
      [{ dtype: 'uint16', symmetric: true }, /symmetric: true with dtype uint16.*at r\.yaml:1:symmetric/],
      [{ dtype: 'float16', clip: 'mse' }, /clip mse with dtype float16.*at r\.yaml:1:clip/],
      [{ dtype: 'int8', granularity: 'per-group' }, /per-group without groupSize.*at r\.yaml:1:granularity/],
      [{ dtype: 'int8', groupSize: 8 }, /groupSize with granularity per-tensor.*at r\.yaml:1:groupSize/],
      [{ dtype: 'int8', bits: 4 }, /dtype int8 and bits 4, which disagree/],
    ];
    for (const [raw, message] of bad) expect(() => quantize.resolveOptions(raw, place)).toThrow(message);
  });
});

describe('packed error bounds', () => {
  const shapes: [string, number[], number][] = [
    ['dense', [24, 5], 1],
    ['conv', [3, 3, 4, 6], 3],
    ['depthwise', [3, 3, 4, 2], 2],
  ];
  for (const dtype of ['int8', 'int4', 'int2'] as const) {
    for (const granularity of ['per-tensor', 'per-channel', 'per-group'] as const) {
      it(`${dtype} ${granularity} symmetric: |w − ŵ| ≤ scale/2 for every value`, () => {
        for (const [, shape, axis] of shapes) {
          const n = shape.reduce((a, b) => a * b, 1);
          const v = randomValues(n, n + axis);
          const p = packWeight('l/kernel', shape, v, {
            dtype,
            granularity,
            axis,
            groupSize: 5,
            symmetric: true,
            clip: 'none',
          });
          for (let i = 0; i < n; i++)
            expect(Math.abs(v[i]! - p.decoded[i]!)).toBeLessThanOrEqual((p.scales[i]! / 2) * (1 + 1e-6) + 1e-7);
          const scalesUsed = new Set(p.scales).size;
          if (granularity === 'per-tensor') expect(scalesUsed).toBe(1);
          expect(p.quantization.scaleCount).toBe(
            granularity === 'per-tensor'
              ? 1
              : granularity === 'per-channel'
                ? n / shape.slice(0, axis).reduce((a, b) => a * b, 1)
                : (n / shape.slice(0, axis).reduce((a, b) => a * b, 1)) *
                  Math.ceil(shape.slice(0, axis).reduce((a, b) => a * b, 1) / 5),
          );
        }
      });
    }
    it(`${dtype} asymmetric per-channel: |w − ŵ| ≤ scale/2 (+ float32 rounding)`, () => {
      const v = randomValues(3 * 3 * 4 * 6, 9, 0.8);
      const p = packWeight('l/kernel', [3, 3, 4, 6], v, {
        dtype,
        granularity: 'per-channel',
        axis: 3,
        symmetric: false,
        clip: 'none',
      });
      for (let i = 0; i < v.length; i++)
        expect(Math.abs(v[i]! - p.decoded[i]!)).toBeLessThanOrEqual(p.scales[i]! / 2 + 1e-6);
    });
    it(`${dtype}: clip mse never has a higher squared error than no clipping`, () => {
      for (const granularity of ['per-tensor', 'per-channel', 'per-group'] as const) {
        for (const symmetric of [true, false]) {
          const r = mulberry32(5);
          // Heavy tails, where clipping pays.
          const v = Float32Array.from({ length: 64 * 8 }, () => (r() - 0.5) * 0.1 * (r() < 0.02 ? 20 : 1));
          const o: PackOptions = { dtype, granularity, axis: 1, groupSize: 16, symmetric, clip: 'none' };
          const sse = (d: Float32Array) => d.reduce((s, x, i) => s + (x - v[i]!) ** 2, 0);
          const plain = sse(packWeight('l/kernel', [64, 8], v, o).decoded);
          const clipped = sse(packWeight('l/kernel', [64, 8], v, { ...o, clip: 'mse' }).decoded);
          expect(clipped).toBeLessThanOrEqual(plain);
          if (dtype === 'int4' && symmetric && granularity === 'per-tensor') expect(clipped).toBeLessThan(plain);
        }
      }
    });
  }
});

describe('packed bytes', () => {
  it('packs little-endian within each byte: element i at bit i·b, low bits first', () => {
    // int4 symmetric: values 1, -1, 7, -7 with scale 1 → nibbles 0x1, 0xF, 0x7, 0x9.
    const p = packWeight('l/kernel', [4, 1], Float32Array.from([1, -1, 7, -7]), {
      dtype: 'int4',
      granularity: 'per-tensor',
      axis: 1,
      symmetric: true,
      clip: 'none',
    });
    expect(Array.from(p.bytes)).toEqual([0, 0, 0x80, 0x3f, 0xf1, 0x97]); // float32 1.0, then the nibbles
    expect(Array.from(p.decoded)).toEqual([1, -1, 7, -7]);
    expect(readInt(Uint8Array.from([0b11100100]), 3, 2, true)).toBe(-1);
    expect(readInt(Uint8Array.from([0b11100100]), 1, 2, false)).toBe(1);
  });

  it('encode → bytes → decode is bit-exact, and weightByteLength is the packed length', () => {
    for (const dtype of ['int8', 'int4', 'int2'] as const) {
      for (const symmetric of [true, false]) {
        const v = randomValues(7 * 5 * 3, 4);
        const p = packWeight('l/kernel', [7, 5, 3], v, {
          dtype,
          granularity: 'per-group',
          axis: 2,
          groupSize: 4,
          symmetric,
          clip: 'mse',
        });
        const spec = { name: 'l/kernel', shape: [7, 5, 3], dtype: 'float32', quantization: p.quantization };
        expect(decodePacked(spec, Uint8Array.from(p.bytes))).toEqual(p.decoded);
        expect(weightByteLength(spec)).toBe(p.bytes.byteLength);
        const scales = p.quantization.scaleCount * (symmetric ? 1 : 2);
        expect(p.bytes.byteLength).toBe(4 * scales + Math.ceil((7 * 5 * 3 * { int8: 8, int4: 4, int2: 2 }[dtype]) / 8));
      }
    }
  });

  it('a packed model survives modelToFiles → filesToModel byte for byte, also across several shards', async () => {
    const input = await convModel();
    for (const options of [
      { dtype: 'int4', granularity: 'per-channel', symmetric: true, clip: 'mse' },
      { dtype: 'int2', granularity: 'per-group', groupSize: 3, symmetric: false, clip: 'none' },
    ] as QuantizeOptions[]) {
      const { model, stats } = await quantize.apply(input, options, ctx);
      expect(stats.weightsQuantized).toBe(3); // three kernels; biases stay float32
      for (const shardBytes of [undefined, 37]) {
        const files = modelToFiles(model, shardBytes);
        const back = filesToModel(files);
        expect(back.weightData).toEqual(model.weightData);
        expect(back.weightSpecs).toEqual(model.weightSpecs);
        expect(modelToFiles(back, shardBytes)).toEqual(files);
      }
    }
  });

  it('decodeWeights refuses a packed weight whose bytes do not match its checksum', async () => {
    const { model } = await quantize.apply(
      await convModel(),
      { dtype: 'int8', granularity: 'per-channel', symmetric: true, clip: 'none' },
      ctx,
    );
    const data = Uint8Array.from(model.weightData);
    data[10]! ^= 0x01;
    expect(() => decodeWeights({ ...model, weightData: data })).toThrow(/weight c1\/kernel: checksum mismatch/);
  });

  it('TF.js gets exactly the decoder output: per-channel axes of Dense, Conv2D and DepthwiseConv2D kernels', async () => {
    const input = await convModel();
    const { model } = await quantize.apply(
      input,
      { dtype: 'int8', granularity: 'per-channel', symmetric: true, clip: 'none' },
      ctx,
    );
    const byName = new Map(model.weightSpecs.map((s) => [s.name, s.quantization]));
    expect(byName.get('c1/kernel')).toMatchObject({ dtype: 'int8', axis: 3, scaleCount: 6 });
    expect(byName.get('dw/depthwise_kernel')).toMatchObject({ dtype: 'int8', axis: 2, scaleCount: 12 });
    expect(byName.get('d/kernel')).toMatchObject({ dtype: 'int8', axis: 1, scaleCount: 5 });
    expect(byName.get('d/bias')).toBeUndefined();
    const ours = decodeWeights(model).map((w) => Array.from(w.values));
    const loaded = await toLayersModel(tf, model);
    const theirs = await Promise.all(loaded.getWeights().map((t) => t.data()));
    expect(theirs.map((d) => Array.from(d))).toEqual(ours);
    loaded.dispose();
  });
});

describe('per-channel int8 on a trained MobileNet v1', () => {
  it('keeps accuracy within the per-tensor uint8 result or better', async () => {
    const train = await loadMnist('train', 1200);
    const test = await loadMnist('test', 200);
    const m = buildArchitecture(
      tf,
      'mobilenet-v1',
      { alpha: 0.25, depth: 0 },
      { inputShape: [28, 28, 1], numClasses: 10, seed: 3 },
    );
    await trainModel(tf, m, train, { epochs: 2, batchSize: 32, learningRate: 0.004, optimizer: 'adam', seed: 3 });
    const stored = await fromLayersModel(tf, m);
    m.dispose();
    const accuracy = async (model: StoredModel) => {
      const inf = await loadForInference(tf, model);
      const r = await measureAccuracy(tf, inf, test);
      inf.dispose();
      return r.correct;
    };
    const uint8 = await accuracy(
      (await quantize.apply(stored, { dtype: 'uint8', granularity: 'per-tensor' }, ctx)).model,
    );
    const perChannel = (
      await quantize.apply(stored, { dtype: 'int8', granularity: 'per-channel', symmetric: true, clip: 'none' }, ctx)
    ).model;
    expect(perChannel.weightSpecs.filter((s) => s.quantization?.dtype === 'int8').length).toBeGreaterThan(5);
    const int8 = await accuracy(perChannel);
    // A model that has learnt something (above 60%): on a near-random one quantization noise decides the order.
    expect(uint8).toBeGreaterThan(120);
    // Qualitative: a couple of samples of slack out of 200 for a model trained briefly (2 epochs of 1,200).
    expect(int8).toBeGreaterThanOrEqual(uint8 - 2);
  });
});
