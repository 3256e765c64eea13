/** Helpers for tests that run models with TF.js (kept apart from helpers.ts, which loads no TF.js). */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/index.js';
import { type StoredModel, Topology } from '../src/model/index.js';
import { toLayersModel } from '../src/engine/runtime.js';

/** The model's outputs on the samples of `ds`, through stock TF.js. */
export async function predictAll(m: StoredModel, ds: Dataset): Promise<Float32Array> {
  const model = await toLayersModel(tf, m);
  const x = tf.tensor(ds.x, [ds.count, ...ds.inputShape]);
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

/** The model's logits (its output layer without the softmax) on the samples of `ds`. */
export async function logits(m: StoredModel, ds: Dataset): Promise<Float32Array> {
  const t = Topology.fromModel(m.json);
  const last = t.outputs()[0]!;
  if (t.config(last).activation === 'softmax') t.updateConfig(last, { activation: 'linear' });
  return predictAll({ ...m, json: t.toModelJson(m.json) }, ds);
}
