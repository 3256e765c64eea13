import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { type StoredModel, decodeWeights } from '../../src/model/index.js';
import { toLayersModel } from '../../src/engine/runtime.js';
import { affineRange } from '../../src/passes/quantize/apply.js';
import { quantize } from '../../src/passes/quantize/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { mulberry32 } from '../../src/util/random.js';

const ctx = {} as PassContext; // quantize reads no data and loads no engine
const place = { path: ['passes', 0, 'quantize'], at: () => 'r.yaml:1:1' };

/** A real Dense model's artifacts with seeded weights spanning an asymmetric range. */
async function denseModel(): Promise<StoredModel> {
  const { fromLayersModel } = await import('../../src/engine/runtime.js');
  const m = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [6],
        units: 5,
        kernelInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 1.1, seed: 3 }),
        biasInitializer: tf.initializers.constant({ value: 0.25 }),
      }),
    ],
  });
  const stored = await fromLayersModel(tf, m);
  m.dispose();
  return stored;
}

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
});

describe('quantize options', () => {
  it('defaults to uint8 and reads bits as a shorthand', () => {
    expect(quantize.resolveOptions({}, place)).toEqual({ dtype: 'uint8', granularity: 'per-tensor' });
    expect(quantize.resolveOptions({ bits: 16 }, place)).toEqual({ dtype: 'uint16', granularity: 'per-tensor' });
  });

  it('refuses dtype and bits that disagree, pointing at the recipe', () => {
    expect(() => quantize.resolveOptions({ dtype: 'float16', bits: 8 }, place)).toThrow(
      /`passes\[0\]\.quantize` sets dtype float16 and bits 8, which disagree, at r\.yaml:1:1/,
    );
  });
});

describe('affine range', () => {
  it('makes zero exactly representable', () => {
    const random = mulberry32(11);
    for (let i = 0; i < 200; i++) {
      const min = -random() * 3;
      const max = random() * 5;
      for (const qmax of [255, 65535]) {
        const r = affineRange(min, max, qmax);
        const zero = Math.round(-r.min / r.scale);
        expect(zero * r.scale + r.min).toBeCloseTo(0, 12);
      }
    }
  });
});

describe('quantize round trip', () => {
  for (const [dtype, bound] of [
    ['uint8', (range: number) => range / 255 / 2],
    ['uint16', (range: number) => range / 65535 / 2],
  ] as const) {
    it(`${dtype}: every weight within half a step of its original`, async () => {
      const input = await denseModel();
      const { model, stats } = await quantize.apply(input, { dtype, granularity: 'per-tensor' }, ctx);
      const before = decodeWeights(input);
      const after = decodeWeights(model);
      for (const [i, w] of before.entries()) {
        const v = w.values as Float32Array;
        const range = Math.max(...v, 0) - Math.min(...v, 0) || 1;
        const q = after[i]!.values as Float32Array;
        for (let k = 0; k < v.length; k++)
          expect(Math.abs(q[k]! - v[k]!)).toBeLessThanOrEqual(bound(range) * 1.0001 + 1e-7);
      }
      expect(model.weightSpecs.every((s) => s.quantization?.dtype === dtype)).toBe(true);
      expect(stats.weightBytesAfter).toBe((input.weightData.byteLength / 4) * (dtype === 'uint8' ? 1 : 2));
    });
  }

  it('float16: relative error within 2^-11', async () => {
    const input = await denseModel();
    const { model } = await quantize.apply(input, { dtype: 'float16', granularity: 'per-tensor' }, ctx);
    const before = decodeWeights(input);
    const after = decodeWeights(model);
    for (const [i, w] of before.entries()) {
      const v = w.values as Float32Array;
      const q = after[i]!.values as Float32Array;
      for (let k = 0; k < v.length; k++)
        expect(Math.abs(q[k]! - v[k]!)).toBeLessThanOrEqual(Math.abs(v[k]!) * 2 ** -11);
    }
  });

  it('TF.js decodes the stored bytes to exactly the values mcbuild measured on', async () => {
    const input = await denseModel();
    for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
      const { model } = await quantize.apply(input, { dtype, granularity: 'per-tensor' }, ctx);
      const ours = decodeWeights(model).map((w) => Array.from(w.values));
      const loaded = await toLayersModel(tf, model);
      const theirs = await Promise.all(loaded.getWeights().map((t) => t.data()));
      expect(theirs.map((d) => Array.from(d))).toEqual(ours);
      loaded.dispose();
    }
  });

  it('quantizing twice starts from the dequantized values (no compounding surprise)', async () => {
    const input = await denseModel();
    const once = (await quantize.apply(input, { dtype: 'uint8', granularity: 'per-tensor' }, ctx)).model;
    const twice = (await quantize.apply(once, { dtype: 'uint8', granularity: 'per-tensor' }, ctx)).model;
    const a = decodeWeights(once).map((w) => Array.from(w.values));
    const b = decodeWeights(twice).map((w) => Array.from(w.values));
    for (let i = 0; i < a.length; i++)
      for (let k = 0; k < a[i]!.length; k++) expect(b[i]![k]).toBeCloseTo(a[i]![k]!, 5);
  });
});
