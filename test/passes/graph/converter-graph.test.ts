/** The converter-style graph the graph-pass tests use loads and runs in stock tf.loadGraphModel. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import { modelToFiles } from '../../../src/model/index.js';
import { converterGraph, graphInput, memoryFetch } from './converter-graph.js';

describe('converter-style graph fixture', () => {
  it('loads in stock tf.loadGraphModel and gives a distribution per sample, with and without its batch norm', async () => {
    await loadEngine('wasm');
    for (const options of [{}, { batchNorm: true }, { transposeB: true }]) {
      const files = modelToFiles(converterGraph(options));
      const g = await tf.loadGraphModel('http://h/m/model.json', { fetchFunc: memoryFetch(files) });
      const x = tf.tensor4d(graphInput(4), [4, 8, 8, 3]);
      const y = g.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([4, 10]);
      const v = (await y.data()) as Float32Array;
      for (let i = 0; i < 4; i++) expect(v.slice(10 * i, 10 * i + 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(new Set(Array.from(v).map((p) => p.toFixed(3))).size).toBeGreaterThan(10);
      tf.dispose([x, y]);
      g.dispose();
    }
  });
});
