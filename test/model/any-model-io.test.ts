/**
 * What users bring, read and run as mcbuild does, on the converter-true fixtures: a Keras 3 MobileNetV2 (which
 * stock TF.js refuses) read into the form it loads, a detector graph with an int32 (and a DT_UINT8) image input,
 * four outputs and a While loop run through executeAsync, and an embedding graph: signatures read from
 * model.json alone, every output measured.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { loadEngine, loadForInference } from '../../src/engine/runtime.js';
import { measureOutputs } from '../../src/metrics/accuracy.js';
import { isKeras3Topology, modelSignature, modelToFiles, readModelDir } from '../../src/model/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { detectorGraph, detectorGraphUint8, embeddingGraph, mobilenetV2Keras3 } from '../fixtures/models/index.js';

beforeAll(async () => {
  await loadEngine('wasm');
});

function images(count: number, shape: number[], max: number): Dataset {
  const random = mulberry32(3);
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    name: 'images',
    x: Float32Array.from({ length: count * size }, () => (max === 1 ? random() * 2 - 1 : Math.floor(random() * 256))),
    count,
    inputShape: shape,
  };
}

describe('models users bring, as mcbuild reads and runs them', () => {
  it('a Keras 3 MobileNetV2 is read in the Keras 2 form: its depthwise kernels named as TF.js names them, 1000 classes out', async () => {
    const f = await mobilenetV2Keras3();
    const { model } = await readModelDir(f.modelJson);
    expect(isKeras3Topology(model.json.modelTopology)).toBe(false);
    expect(model.weightSpecs.some((w) => w.name === 'expanded_conv_depthwise/depthwise_kernel')).toBe(true);
    expect(modelSignature(model.json)).toEqual({
      inputs: [{ name: 'input_layer', shape: [null, 224, 224, 3], dtype: 'float32' }],
      outputs: [{ name: 'predictions', shape: [null, 1000], dtype: 'float32' }],
      async: false,
    });
    const inference = await loadForInference(tf, model);
    const [probs] = await inference.run(tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 1));
    expect(probs!.shape).toEqual([1, 1000]);
    expect(probs!.sum().dataSync()[0]).toBeCloseTo(1, 4);
    probs!.dispose();
    inference.dispose();
    // What mcbuild writes back is Keras 2 JSON.
    const json = JSON.parse(new TextDecoder().decode(modelToFiles(model).get('model.json'))) as Record<string, unknown>;
    expect(isKeras3Topology(json.modelTopology)).toBe(false);
  }, 120_000);

  it('the detector: an int32 input, four outputs, a While loop (executeAsync); every output measured', async () => {
    const f = await detectorGraph();
    const { model } = await readModelDir(f.modelJson);
    const sig = modelSignature(model.json);
    expect(sig.async).toBe(true);
    expect(sig.inputs).toEqual([{ name: 'image', shape: [1, 96, 96, 3], dtype: 'int32' }]);
    expect(sig.outputs.map((o) => o.name).sort()).toEqual(['boxes', 'keypoints', 'refinement', 'scores']);
    const inference = await loadForInference(tf, model);
    expect(inference.inputDtype).toBe('int32');
    const ds = images(2, [96, 96, 3], 255);
    const m = await measureOutputs(tf, inference, ds, { batchSize: 1 });
    inference.dispose();
    const widths = Object.fromEntries(m.all.map((o) => [o.name, o.width]));
    expect(widths).toEqual({ boxes: 1152 * 4, scores: 1152, refinement: 3, keypoints: 1152 * 10 });
    for (const o of m.all) {
      expect(o.values.every(Number.isFinite)).toBe(true);
      expect(new Set(o.values).size).toBeGreaterThan(1);
    }
    expect(m.accuracy).toBeUndefined();
  }, 120_000);

  it('a DT_UINT8 input is declared so and fed as int32 values 0..255', async () => {
    const f = await detectorGraphUint8();
    const { model } = await readModelDir(f.modelJson);
    expect(modelSignature(model.json).inputs).toEqual([
      { name: 'image', shape: [1, 96, 96, 3], dtype: 'int32', declared: 'DT_UINT8' },
    ]);
  }, 60_000);

  it('an embedding graph: one 128-wide output', async () => {
    const f = await embeddingGraph();
    const { model } = await readModelDir(f.modelJson);
    const sig = modelSignature(model.json);
    expect(sig.async).toBe(false);
    expect(sig.outputs).toEqual([expect.objectContaining({ name: 'embedding', shape: [null, 128], dtype: 'float32' })]);
  }, 60_000);
});
