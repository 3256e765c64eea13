/**
 * keepStoredForms on a real TF.js model stored as tensorflowjs_converter writes it (uint8 manifest): tensors a
 * pass did not change come back as the source stored them, byte for byte; pruned zeros stay on the source's
 * grid; a float16 re-encoding of uint8 weights is undone; real changes are counted.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeWeights,
  encodeWeights,
  keepStoredForms,
  paramCount,
  roundToStoredGrid,
  type DecodedWeight,
  type StoredModel,
} from '../../src/model/index.js';
import { fromLayersModel } from '../../src/engine/runtime.js';
import type { PassContext } from '../../src/passes/index.js';
import { quantize } from '../../src/passes/quantize/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { converterQuantized } from '../quantized-source.js';

const place = { path: ['passes', 0, 'quantize'], at: () => 'r.yaml:1:1' };
let float: StoredModel;
let source: StoredModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [20],
        units: 16,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 10,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        biasInitializer: tf.initializers.constant({ value: 0.1 }),
      }),
    ],
  });
  float = await fromLayersModel(tf, m);
  m.dispose();
  source = converterQuantized(float);
});

const asFloat32 = (m: StoredModel) => encodeWeights(m.json, decodeWeights(m));

/** The stored bytes of each weight, by name. */
function bytesOf(m: StoredModel): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let off = 0;
  for (const s of m.weightSpecs) {
    const n = s.shape.reduce((a, b) => a * b, 1) * (s.quantization?.dtype === 'uint8' ? 1 : s.quantization ? 2 : 4);
    out.set(s.name, m.weightData.subarray(off, off + n));
    off += n;
  }
  return out;
}

describe('keepStoredForms', () => {
  it('gives back the source byte for byte when a pass only decoded and re-wrote it', () => {
    const written = asFloat32(source);
    expect(written.weightData.byteLength).toBeGreaterThan(3 * source.weightData.byteLength);
    const { model, changes } = keepStoredForms(source, written);
    expect(model.weightSpecs).toEqual(source.weightSpecs);
    expect(Buffer.from(model.weightData).equals(source.weightData)).toBe(true);
    expect(changes).toMatchObject({ tensors: 0, params: 0, totalTensors: 4, totalParams: paramCount(source), kept: 4 });
  });

  it('keeps pruned zeros on the source grid, and untouched tensors as they were', () => {
    const weights = decodeWeights(source);
    const kernel = weights[0]!.values as Float32Array;
    const order = [...kernel.keys()].sort((a, b) => Math.abs(kernel[a]!) - Math.abs(kernel[b]!));
    for (const i of order.slice(0, kernel.length / 2)) kernel[i] = 0;
    const { model, changes } = keepStoredForms(source, encodeWeights(source.json, weights));
    expect(model.weightData.byteLength).toBe(source.weightData.byteLength);
    expect(changes).toMatchObject({ tensors: 1, params: 20 * 16, regridded: 1, kept: 3 });
    expect(model.weightSpecs[0]!.quantization).toEqual(source.weightSpecs[0]!.quantization);
    const [after, before] = [bytesOf(model), bytesOf(source)];
    for (const s of source.weightSpecs.slice(1))
      expect(Buffer.from(after.get(s.name)!).equals(before.get(s.name)!)).toBe(true);
    const pruned = decodeWeights(model)[0]!.values as Float32Array;
    expect(pruned.filter((v) => v === 0).length).toBeGreaterThanOrEqual(kernel.length / 2);
    expect([...pruned]).toEqual([...kernel]);
  });

  it('undoes a float16 re-encoding of uint8 weights: nothing changed, nothing grew', async () => {
    const out = await quantize.apply(source, quantize.resolveOptions({ dtype: 'float16' }, place), {} as PassContext);
    expect(out.model.weightData.byteLength).toBe(2 * source.weightData.byteLength);
    const { model, changes } = keepStoredForms(source, out.model);
    expect(changes.tensors).toBe(0);
    expect(Buffer.from(model.weightData).equals(source.weightData)).toBe(true);
  });

  it('leaves real changes as the pass wrote them, and counts new and removed tensors', async () => {
    // float32 source, uint8 quantization: every tensor changed, output untouched (the same object).
    const out = await quantize.apply(float, quantize.resolveOptions({ dtype: 'uint8' }, place), {} as PassContext);
    const kept = keepStoredForms(float, out.model);
    expect(kept.model).toBe(out.model);
    expect(kept.changes).toMatchObject({ tensors: 4, params: paramCount(float), kept: 0 });
    // Values off the source's grid: float32, counted.
    const weights = decodeWeights(source);
    (weights[2]!.values as Float32Array)[0]! += 1e-3;
    const off = keepStoredForms(source, encodeWeights(source.json, weights));
    expect(off.changes).toMatchObject({ tensors: 1, params: 16 * 10, kept: 3 });
    expect(off.model.weightSpecs[2]!.quantization).toBeUndefined();
    // One tensor renamed: the old one removed, the new one added.
    const renamed: DecodedWeight[] = decodeWeights(source).map((w, i) =>
      i === 3 ? { ...w, spec: { ...w.spec, name: 'dense_x/bias' } } : w,
    );
    const r = keepStoredForms(source, encodeWeights(source.json, renamed));
    expect(r.changes).toMatchObject({ tensors: 2, params: 20, totalTensors: 4 });
  });

  it("rounds new values onto the source's grid, so the tensor keeps its form (cluster's centroids)", () => {
    const weights = decodeWeights(source);
    const kernel = weights[0]!.values as Float32Array;
    for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i]! > 0 ? 0.0123 : -0.0456;
    const before = new Float32Array(kernel);
    roundToStoredGrid(source.weightSpecs[0]!, kernel);
    const q = source.weightSpecs[0]!.quantization as { scale: number };
    for (let i = 0; i < kernel.length; i++)
      expect(Math.abs(kernel[i]! - before[i]!)).toBeLessThanOrEqual(q.scale / 2 + 1e-7);
    expect(new Set(kernel).size).toBe(2);
    const { model, changes } = keepStoredForms(source, encodeWeights(source.json, weights));
    expect(changes).toMatchObject({ tensors: 1, regridded: 1 });
    expect(model.weightData.byteLength).toBe(source.weightData.byteLength);
    // A float32 spec has no grid: the values stay as they are.
    const f = new Float32Array([0.0123]);
    roundToStoredGrid(float.weightSpecs[0]!, f);
    expect(f[0]).toBe(Math.fround(0.0123));
  });

  it('takes well under a second on a 14 MB model', () => {
    const n = 3_500_000;
    const random = mulberry32(5);
    const values = new Float32Array(n).map(() => random() - 0.5);
    const big: StoredModel = encodeWeights(float.json, [
      { spec: { name: 'd/kernel', shape: [n], dtype: 'float32' }, values },
    ]);
    const stored = converterQuantized(big);
    const rewritten = asFloat32(stored);
    const pruned = new Float32Array(values);
    for (let i = 0; i < n; i += 2) pruned[i] = 0;
    const prunedModel = encodeWeights(float.json, [
      { spec: { name: 'd/kernel', shape: [n], dtype: 'float32' }, values: pruned },
    ]);
    const started = performance.now();
    expect(keepStoredForms(stored, rewritten).changes.tensors).toBe(0);
    expect(keepStoredForms(big, prunedModel).changes.tensors).toBe(1);
    expect(keepStoredForms(big, big).changes.tensors).toBe(0);
    // Generous for a busy 2-core machine; about 300 ms when idle (decoding 3.5M uint8 values twice).
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
