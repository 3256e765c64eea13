/**
 * Keras 3 configs (as keras 3.15's `model.to_json()` writes them: test/fixtures/keras3/) rewritten into the
 * Keras 2 form stock TF.js 4.22 loads, and read by mcbuild from a model folder as such: signature, layers and
 * the model.json it writes back.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, loadForInference } from '../../src/engine/runtime.js';
import {
  isKeras3Topology,
  keras2Topology,
  modelLayers,
  modelSignature,
  modelToFiles,
  readModelDir,
} from '../../src/model/index.js';
import { ROOT, tempDir } from '../helpers.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'keras3', name), 'utf8')) as Record<string, unknown>;
const work = tempDir('mcbuild-keras3-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await loadEngine('wasm');
});

/** Seeded weights for every weight a TF.js model of this topology has, as a converter's model folder. */
async function writeFolder(dir: string, modelTopology: unknown): Promise<string> {
  const model = await tf.models.modelFromJSON({
    modelTopology: keras2Topology(modelTopology) as tf.io.ModelJSON['modelTopology'],
  });
  const specs = model.weights.map((w) => ({
    name: w.originalName,
    shape: w.shape as number[],
    dtype: 'float32' as const,
  }));
  let seed = 1;
  const values = new Float32Array(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)).map(() => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  });
  model.dispose();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'group1-shard1of1.bin'), new Uint8Array(values.buffer));
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      generatedBy: 'keras v3.15.1',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      // Keras 3's own JSON, untouched: what mcbuild must read.
      modelTopology: { keras_version: '3.15.1', backend: 'tensorflow', model_config: modelTopology },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
    }),
  );
  return join(dir, 'model.json');
}

describe('Keras 3 configs', () => {
  it('are recognised, and Keras 2 ones are returned as they are', () => {
    expect(isKeras3Topology(fixture('functional.json'))).toBe(true);
    expect(isKeras3Topology(fixture('sequential.json'))).toBe(true);
    const keras2 = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] }).toJSON(undefined, false);
    expect(isKeras3Topology(keras2)).toBe(false);
    expect(keras2Topology(keras2)).toBe(keras2);
  });

  it('stock TF.js refuses the functional config as written, and loads it rewritten: two heads, an Add, a BatchNormalization', async () => {
    const raw = fixture('functional.json');
    await expect(tf.models.modelFromJSON({ modelTopology: raw as never })).rejects.toThrow();
    const model = await tf.models.modelFromJSON({ modelTopology: keras2Topology(raw) as never });
    expect(model.outputNames).toEqual(['embedding', 'probs']);
    expect(model.inputs[0]!.shape).toEqual([null, 6]);
    expect(model.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer',
      'Dense',
      'Dense',
      'Add',
      'BatchNormalization',
      'Dense',
      'Dense',
    ]);
    const [emb, probs] = model.predict(tf.ones([2, 6])) as tf.Tensor[];
    expect(emb!.shape).toEqual([2, 4]);
    expect(probs!.sum(1).arraySync()).toEqual([expect.closeTo(1, 5), expect.closeTo(1, 5)]);
    tf.dispose([emb!, probs!]);
    model.dispose();
  });

  it('a Sequential takes its input shape from the InputLayer Keras 3 lists first', async () => {
    const model = await tf.models.modelFromJSON({ modelTopology: keras2Topology(fixture('sequential.json')) as never });
    expect(model.inputs[0]!.shape).toEqual([null, 5]);
    expect(model.layers.map((l) => l.name)).toEqual(['d1', 'd2']);
    model.dispose();
  });

  it("nested models: a Functional called once and a Sequential called twice compute Keras's own outputs", async () => {
    // keras 3.15's to_json() of the model, its weights by Keras path, an input and what Keras computed from it.
    const {
      model: raw,
      weights,
      x,
      y,
    } = fixture('nested.json') as {
      model: unknown;
      weights: Record<string, number[]>;
      x: number[][];
      y: number[][][];
    };
    const model = await tf.models.modelFromJSON({ modelTopology: keras2Topology(raw) as never });
    // Keras 2 and TF.js count a nested model's own build as its node 0: its calls are nodes 1, 2, …
    const layers = (keras2Topology(raw) as { config: { layers: { name: string; inbound_nodes: unknown }[] } }).config
      .layers;
    expect(layers.find((l) => l.name === 'sum')!.inbound_nodes).toEqual([
      [
        ['block', 1, 0, {}],
        ['block', 2, 0, {}],
      ],
    ]);
    const byName = new Map(Object.entries(weights).map(([path, v]) => [path.split('/').slice(-2).join('/'), v]));
    expect(model.weights.map((w) => w.originalName).sort()).toEqual([...byName.keys()].sort());
    for (const w of model.weights) w.write(tf.tensor(byName.get(w.originalName)!.flat(), w.shape as number[]));
    const outs = model.predict(tf.tensor(x)) as tf.Tensor[];
    for (const [i, out] of outs.entries()) {
      const got = out.arraySync() as number[][];
      got.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(y[i]![r]![c]!, 5)));
    }
    tf.dispose(outs);
    model.dispose();
  });

  it('a model folder with a Keras 3 config is read in Keras 2 form: signature, layers, inference, and the model.json written back', async () => {
    const path = await writeFolder(join(work, 'functional'), fixture('functional.json'));
    const { model } = await readModelDir(path);
    expect(isKeras3Topology(model.json.modelTopology)).toBe(false);
    const sig = modelSignature(model.json);
    expect(sig.inputs).toEqual([{ name: 'features', shape: [null, 6], dtype: 'float32' }]);
    expect(sig.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['embedding', [null, 4]],
      ['probs', [null, 3]],
    ]);
    expect(modelLayers(model.json, model.weightSpecs).map((l) => l.name)).toEqual(
      expect.arrayContaining(['hidden', 'skip', 'bn', 'embedding', 'probs']),
    );
    const inference = await loadForInference(tf, model);
    const outs = await inference.run(tf.ones([1, 6]));
    expect(outs.map((t) => t.shape)).toEqual([
      [1, 4],
      [1, 3],
    ]);
    tf.dispose(outs);
    inference.dispose();
    // What mcbuild writes is what stock TF.js loads.
    const written = JSON.parse(new TextDecoder().decode(modelToFiles(model).get('model.json'))) as {
      modelTopology: unknown;
    };
    expect(isKeras3Topology(written.modelTopology)).toBe(false);
    const again = await tf.models.modelFromJSON({ modelTopology: written.modelTopology as never });
    expect(again.outputNames).toEqual(['embedding', 'probs']);
    again.dispose();
  });
});
