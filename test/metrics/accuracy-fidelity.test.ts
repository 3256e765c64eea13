/**
 * Top-k and per-class accuracy, fidelity (agreement, KL) and non-zero parameters against hand-computed cases,
 * measured through real TF.js: the "model" is a Dense layer with an identity kernel, so its outputs are the
 * inputs and every expected number can be worked out by hand. Plus the gates that read them.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Dataset, LabelledDataset } from '../../src/data/index.js';
import { fromLayersModel, layersInference } from '../../src/engine/runtime.js';
import { gate } from '../../src/gate/index.js';
import { measureAccuracy, measureOutputs, measurePeakMemory } from '../../src/metrics/accuracy.js';
import { measureFidelity, pairedOutcomes } from '../../src/metrics/fidelity.js';
import { nonZeroParams, type Metrics } from '../../src/metrics/index.js';

/** A model whose outputs are its inputs (6 classes). */
function identity(): tf.LayersModel {
  const m = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [6], units: 6, useBias: false, kernelInitializer: 'identity' })],
  });
  return m;
}

function dataset(rows: number[][], labels: number[]): LabelledDataset {
  return {
    name: 'hand',
    x: new Float32Array(rows.flat()),
    y: new Uint8Array(labels),
    count: rows.length,
    inputShape: [6],
    numClasses: 6,
  };
}

describe('measureAccuracy: top-1, top-k and per class', () => {
  it('matches a hand count', async () => {
    // Scores per class; label is the class the row should predict.
    const rows = [
      [0.9, 0.05, 0.02, 0.01, 0.01, 0.01], // label 0: top-1 hit
      [0.5, 0.4, 0.05, 0.03, 0.01, 0.01], // label 1: rank 2 → top-1 miss, top-5 hit
      [0.3, 0.25, 0.2, 0.15, 0.06, 0.04], // label 5: rank 6 → miss in top-5 too
      [0.1, 0.1, 0.6, 0.1, 0.05, 0.05], // label 2: hit
      [0.2, 0.2, 0.2, 0.3, 0.05, 0.05], // label 1: rank 2 (ties with 0 and 2 do not count against it) → top-5 hit
    ];
    const labels = [0, 1, 5, 2, 1];
    const model = identity();
    const r = await measureAccuracy(tf, layersInference(model), dataset(rows, labels), { batchSize: 2 });
    expect([r.correct, r.count, r.accuracy]).toEqual([2, 5, 0.4]);
    expect(r.topK).toEqual({ k: 5, correct: 4, accuracy: 0.8 });
    const pc = Object.fromEntries(r.perClass.filter((c) => c.count > 0).map((c) => [c.class, [c.correct, c.count]]));
    expect(pc).toEqual({ 0: [1, 1], 1: [0, 2], 2: [1, 1], 5: [0, 1] });
    expect(r.outputs).toEqual(new Float32Array(rows.flat()));
    model.dispose();
  });
});

describe('label-free data: outputs of any width, fidelity only', () => {
  it('measureOutputs takes the width from the model, measures no accuracy, and the gate fails accuracy thresholds saying why', async () => {
    // Three outputs per sample from 6 inputs, no labels: only the outputs are kept.
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [6], units: 3, useBias: false, kernelInitializer: 'ones' })],
    });
    const free: Dataset = {
      name: 'free',
      x: new Float32Array([1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]),
      count: 3,
      inputShape: [6],
    };
    const before = tf.memory().numTensors;
    const r = await measureOutputs(tf, layersInference(model, { keep: true }), free, {
      batchSize: 2,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.classes).toBe(3);
    expect(r.accuracy).toBeUndefined();
    expect(Array.from(r.outputs)).toEqual([1, 1, 1, 2, 2, 2, 6, 6, 6]);
    model.dispose();
    const metrics: Metrics = {
      count: 3,
      sizeBytes: 10,
      gzipBytes: 10,
      brotliBytes: 10,
      files: [],
      params: 18,
      fidelity: { agreement: 1, meanKl: 0 },
    };
    const v = gate(
      { accuracy: { maxDrop: 0.01, significance: { test: 'bootstrap' } }, fidelity: { minAgreement: 0.99 } },
      metrics,
      metrics,
    );
    expect(v.checks.map((c) => [c.name, c.pass])).toEqual([
      ['accuracy.maxDrop', false],
      ['fidelity.minAgreement', true],
    ]);
    expect(v.checks[0]!.text).toMatch(/accuracy was not measured: the eval data has no labels; gate on fidelity/);
  });
});

describe('measureFidelity', () => {
  it('agreement and KL(baseline ‖ result) by hand, and logits through a softmax', () => {
    const p = new Float32Array([0.5, 0.5, 0.7, 0.3]);
    const q = new Float32Array([0.25, 0.75, 0.6, 0.4]);
    const f = measureFidelity(p, q, 2);
    expect(f.agreement).toBe(0.5); // row 0: argmax 0 vs 1; row 1: 0 vs 0
    const kl0 = 0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75);
    const kl1 = 0.7 * Math.log(0.7 / 0.6) + 0.3 * Math.log(0.3 / 0.4);
    expect(f.meanKl).toBeCloseTo((kl0 + kl1) / 2, 6);
    expect(measureFidelity(p, p, 2)).toEqual({ agreement: 1, meanKl: 0 });
    // Logits [0, ln 3] are the distribution [0.25, 0.75].
    const logits = new Float32Array([Math.log(2), Math.log(2), 0, Math.log(3)]);
    const asProbs = measureFidelity(new Float32Array([0.5, 0.5, 0.25, 0.75]), logits, 2);
    expect(asProbs.meanKl).toBeCloseTo((0 + (0.25 * Math.log(0.25 / 0.25) + 0.75 * Math.log(0.75 / 0.75))) / 2, 6);
    expect(() => measureFidelity(p, new Float32Array(3), 2)).toThrow(/do not split/);
  });
});

describe('nonZeroParams', () => {
  it('counts the weights that are not exactly zero', async () => {
    const model = identity();
    const stored = await fromLayersModel(tf, model);
    expect(nonZeroParams(stored)).toBe(6); // a 6×6 identity kernel
    model.dispose();
  });
});

describe('gates on per-class accuracy, top-k and fidelity', () => {
  const base: Metrics = {
    accuracy: 0.9,
    correct: 90,
    count: 100,
    sizeBytes: 1000,
    gzipBytes: 900,
    brotliBytes: 900,
    files: [],
    params: 10,
    topK: { k: 5, accuracy: 0.99, correct: 99 },
    perClass: [
      { class: 0, correct: 45, count: 50, accuracy: 0.9 },
      { class: 1, correct: 45, count: 50, accuracy: 0.9 },
    ],
  };
  const result: Metrics = {
    ...base,
    accuracy: 0.89,
    correct: 89,
    topK: { k: 5, accuracy: 0.97, correct: 97 },
    perClass: [
      { class: 0, correct: 48, count: 50, accuracy: 0.96 },
      { class: 1, correct: 41, count: 50, accuracy: 0.82 },
    ],
    fidelity: { agreement: 0.95, meanKl: 0.02 },
  };

  it('names the worst class and passes or fails at the limit', () => {
    const v = gate(
      {
        accuracy: { maxDrop: 0.02, perClassMaxDrop: 0.05, topKMaxDrop: 0.02 },
        fidelity: { minAgreement: 0.95, maxMeanKl: 0.01 },
      },
      base,
      result,
    );
    const by = Object.fromEntries(v.checks.map((c) => [c.name, c]));
    expect(by['accuracy.maxDrop']!.pass).toBe(true); // the mean fell 1 point only
    expect(by['accuracy.perClassMaxDrop']!.pass).toBe(false); // class 1 fell 8 points
    expect(by['accuracy.perClassMaxDrop']!.measured).toBeCloseTo(0.08, 9);
    expect(by['accuracy.perClassMaxDrop']!.text).toMatch(
      /the worst class, 1, dropped by 8\.00% \(90\.00% → 82\.00% of 50 samples\)/,
    );
    expect(by['accuracy.topKMaxDrop']!.pass).toBe(true); // 0.02 exactly
    expect(by['fidelity.minAgreement']!.pass).toBe(true); // 0.95 exactly
    expect(by['fidelity.maxMeanKl']!.pass).toBe(false);
    expect(v.pass).toBe(false);
  });

  it('a threshold on a metric that was not measured fails and says why', () => {
    const { fidelity: _f, ...old } = result;
    const v = gate({ fidelity: { minAgreement: 0.5 } }, base, old);
    expect(v.checks[0]!.pass).toBe(false);
    expect(v.checks[0]!.text).toMatch(/fidelity was not measured/);
  });
});

describe('pairedOutcomes', () => {
  it('counts the samples only one of the two models gets right', () => {
    // 4 samples, 2 classes; labels 0, 1, 0, 1.
    const labels = new Uint8Array([0, 1, 0, 1]);
    const baseline = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4]); // right, right, wrong, wrong
    const result = new Float32Array([0.4, 0.6, 0.1, 0.9, 0.8, 0.2, 0.7, 0.3]); // wrong, right, right, wrong
    expect(pairedOutcomes(baseline, result, labels, 2)).toEqual({ count: 4, baselineOnly: 1, resultOnly: 1 });
    expect(pairedOutcomes(baseline, baseline, labels, 2)).toEqual({ count: 4, baselineOnly: 0, resultOnly: 0 });
  });
});

describe('count thresholds', () => {
  const m = (params: number, nonZero: number, macs?: number): Metrics => ({
    accuracy: 1,
    correct: 1,
    count: 1,
    sizeBytes: 1,
    gzipBytes: 1,
    brotliBytes: 1,
    files: [],
    params,
    nonZeroParams: nonZero,
    ...(macs === undefined ? {} : { macs }),
  });
  it('max and minRatio on params, non-zero params and MACs, exactly at the limit', () => {
    const v = gate(
      { nonZeroParams: { max: 25_000, minRatio: 10 }, params: { max: 1000 }, macs: { minRatio: 2 } },
      m(266_610, 266_610, 266_200),
      m(266_610, 26_661, 133_100),
    );
    const by = Object.fromEntries(v.checks.map((c) => [c.name, c]));
    expect(by['nonZeroParams.max']!.pass).toBe(false);
    expect(by['nonZeroParams.minRatio']!.pass).toBe(true); // 266,610 / 26,661 = 10 exactly
    expect(by['nonZeroParams.minRatio']!.text).toBe('10.00x fewer non-zero parameters (266,610 → 26,661); minimum 10x');
    expect(by['params.max']!.pass).toBe(false);
    expect(by['macs.minRatio']!.pass).toBe(true);
    const graph = gate({ macs: { max: 10 } }, m(1, 1), m(1, 1));
    expect(graph.checks[0]!.pass).toBe(false);
    expect(graph.checks[0]!.text).toMatch(/MACs per sample were not measured/);
  });
});

describe('accuracy.maxDrop judged by significance', () => {
  // 1,000 samples, baseline 900 right; the result loses 30 and gains 20: a 1-point drop.
  const m = (correct: number, paired?: { count: number; baselineOnly: number; resultOnly: number }): Metrics => ({
    accuracy: correct / 1000,
    correct,
    count: 1000,
    sizeBytes: 1,
    gzipBytes: 1,
    brotliBytes: 1,
    files: [],
    params: 1,
    ...(paired ? { paired } : {}),
  });
  const base = m(900);
  const result = m(890, { count: 1000, baselineOnly: 30, resultOnly: 20 });

  it('a raw 0.5-point limit fails; judged by McNemar at 0 or by the bootstrap at 0.5 points, the drop is noise', () => {
    expect(gate({ accuracy: { maxDrop: 0.005 } }, base, result).pass).toBe(false);
    const mc = gate({ accuracy: { maxDrop: 0, significance: { test: 'mcnemar' } } }, base, result).checks[0]!;
    expect(mc.pass).toBe(true); // 30 vs 20 discordant: one-sided p ≈ 0.10
    expect(mc.text).toMatch(
      /Accuracy dropped 1\.00 points? \(90\.00% → 89\.00%\): 30 samples got worse and 20 better, one-sided McNemar p = .* not significantly worse/,
    );
    const bs = gate({ accuracy: { maxDrop: 0.005, significance: { test: 'bootstrap', level: 0.95 } } }, base, result)
      .checks[0]!;
    expect(bs.pass).toBe(true);
    // Strict reading: the drop must be shown within the limit, which 50 discordant samples cannot show.
    expect(
      gate({ accuracy: { maxDrop: 0.005, significance: { test: 'bootstrap', reading: 'strict' } } }, base, result).pass,
    ).toBe(false);
  });

  it('a clear loss fails, and missing paired outcomes fail with the reason', () => {
    const worse = m(860, { count: 1000, baselineOnly: 60, resultOnly: 20 });
    expect(gate({ accuracy: { maxDrop: 0, significance: { test: 'mcnemar' } } }, base, worse).pass).toBe(false);
    const old = gate({ accuracy: { maxDrop: 0, significance: { test: 'mcnemar' } } }, base, m(890)).checks[0]!;
    expect([old.pass, old.text]).toEqual([false, expect.stringMatching(/paired outcomes .* were not measured/)]);
  });
});

describe('measurePeakMemory', () => {
  it('counts the weights, the input batch and the output of one evaluation batch', async () => {
    const model = identity();
    const rows = Array.from({ length: 300 }, (_, i) => [i % 6, 0, 0, 0, 0, 0]);
    const ds = dataset(
      rows,
      rows.map(() => 0),
    );
    const before = tf.memory().numBytes;
    const peak = await measurePeakMemory(tf, layersInference(model), ds, 256);
    // Weights (36 floats) are already allocated; the batch (256×6) and its output (256×6) are added on top.
    expect(peak).toBeGreaterThanOrEqual(before + 2 * 256 * 6 * 4);
    expect(peak).toBeLessThan(before + 64 * 1024);
    expect(tf.memory().numBytes).toBe(before); // nothing left behind
    model.dispose();
  });
});
