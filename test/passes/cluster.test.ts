import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterOf, kmeans1d } from '../../src/algorithms/kmeans1d/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { readModelDir, type StoredModel } from '../../src/model/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { decodeWeights, encodeWeights } from '../../src/model/index.js';
import { build, McbError, planBuild } from '../../src/index.js';
import { withRecordedWeights } from '../../src/passes/constraints.js';
import { cluster } from '../../src/passes/cluster/index.js';
import { sharedValues } from '../../src/passes/constraints.js';
import { finetune } from '../../src/passes/finetune/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const place = { path: ['passes', 0, 'cluster'], at: (o?: string) => `r.yaml:3:${o === undefined ? 5 : o.length}` };
const ctx: PassContext = {
  engine: () => loadEngine('wasm'),
  data: () => Promise.reject(new Error('cluster reads no data')),
  signal: new AbortController().signal,
  progress: () => {},
};
const KERNEL = /(^|\/)(depthwise_)?kernel$/;

beforeAll(async () => {
  await loadEngine('wasm');
});

/** A seeded sample of a bell-shaped distribution (sum of uniforms), like trained weights. */
function bell(n: number, seed: number, scale = 0.1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (random() + random() + random() + random() - 2) * scale);
}

type ClusterLayerStatsLike = {
  meanSquaredError: number;
  distinctBefore: number;
  distinctValues: number;
  zerosKept: number;
};

const distinct = (v: ArrayLike<number>) => new Set(Array.from(v)).size;
const nonZeroDistinct = (v: ArrayLike<number>) => new Set(Array.from(v).filter((x) => x !== 0)).size;

async function stored(arch: string, options: Record<string, unknown>, seed: number): Promise<StoredModel> {
  const m = buildArchitecture(tf, arch, options, { inputShape: [28, 28, 1], numClasses: 10, seed });
  const s = await fromLayersModel(tf, m);
  m.dispose();
  return s;
}

/** Sets every `every`-th weight of the named kernels to zero, as a pruning pass would. */
function zeroSome(model: StoredModel, names: string[], every: number): StoredModel {
  const weights = decodeWeights(model).map((w) => {
    if (!names.includes(w.spec.name)) return w;
    const v = Float32Array.from(w.values as Float32Array);
    for (let i = 0; i < v.length; i += every) v[i] = 0;
    return { spec: w.spec, values: v };
  });
  // As the prune pass does, record which kernels were pruned.
  return encodeWeights(withRecordedWeights(model.json, 'prunedWeights', names), weights);
}

describe('cluster options', () => {
  it('fills defaults; bits is a shorthand for clusters = 2^bits', () => {
    const defaults = { init: 'kmeans++', iterations: 30, seed: 1, preserveZeros: true };
    expect(cluster.resolveOptions({ clusters: 12 }, place)).toEqual({ clusters: 12, ...defaults });
    expect(cluster.resolveOptions({ bits: 4, init: 'linear' }, place)).toEqual({
      ...defaults,
      clusters: 16,
      init: 'linear',
    });
  });

  it('wants exactly one of clusters and bits, pointing at the recipe', () => {
    expect(() => cluster.resolveOptions({}, place)).toThrow(
      /`passes\[0\]\.cluster` needs the number of clusters at r\.yaml:3:5; set `clusters: K`/,
    );
    expect(() => cluster.resolveOptions({ bits: 4, clusters: 16 }, place)).toThrow(McbError);
    expect(() => cluster.resolveOptions({ bits: 4, clusters: 16 }, place)).toThrow(
      /sets both clusters \(16\) and bits \(4\) at r\.yaml:3:4/,
    );
    expect(() => cluster.resolveOptions({ clusters: 1 }, place)).toThrow(
      /`passes\[0\]\.cluster\.clusters` must be an integer from 2 to 65536 \(got 1\) at r\.yaml:3:8/,
    );
  });
});

/** A layers model of the given weights (float32 unless a dtype is given), one Dense layer per kernel. */
function syntheticModel(
  weights: { name: string; shape: number[]; values: Float32Array | Uint8Array; dtype?: string }[],
): StoredModel {
  const bytes = new Uint8Array(weights.reduce((n, w) => n + w.values.byteLength, 0));
  let at = 0;
  for (const w of weights) {
    bytes.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), at);
    at += w.values.byteLength;
  }
  const layers = [...new Set(weights.map((w) => w.name.split('/')[0]!))].map((name) => ({
    class_name: 'Dense',
    config: { name },
  }));
  return {
    json: { format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 's', layers } } },
    weightSpecs: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype ?? 'float32' })),
    weightData: bytes,
  };
}

describe('cluster pass writes exactly the k-means assignment', () => {
  /** What the pass must write for one kernel: kmeans1d's centroid of each value's range, zeros kept. */
  function reference(values: Float32Array, options: ReturnType<typeof cluster.resolveOptions>) {
    const keep = options.preserveZeros;
    const fit = kmeans1d(
      Array.from(values).filter((x) => !keep || x !== 0),
      options.clusters,
      options,
    );
    const out = values.map((x) => (keep && x === 0 ? x : fit.centroids[clusterOf(fit.upper, x)]!));
    let sumSq = 0;
    for (let i = 0; i < values.length; i++)
      if (!(keep && values[i] === 0)) sumSq += (out[i]! - values[i]!) * (out[i]! - values[i]!);
    return {
      out,
      meanSquaredError: sumSq / values.length,
      distinctValues: new Set(out).size,
      clusters: fit.centroids.length,
    };
  }

  /** Weights with duplicates, ±0 and a wide range, so buckets with cluster boundaries are common. */
  function kernel(n: number, seed: number): Float32Array {
    const random = mulberry32(seed);
    return Float32Array.from({ length: n }, () => {
      const r = random();
      if (r < 0.1) return r < 0.05 ? 0 : -0;
      if (r < 0.2) return Math.fround(0.015625 * Math.floor(random() * 8));
      return (random() + random() + random() - 1.5) * (r < 0.25 ? 3 : 0.1);
    });
  }

  it('with kernels at unaligned offsets, in the output buffer used as scratch and beyond it, for many K', async () => {
    const models = [
      // A 3-byte bool first: every kernel's output is unaligned; the output is large enough to be scratch.
      syntheticModel([
        { name: 'flags', shape: [3], values: Uint8Array.from([1, 0, 1]), dtype: 'bool' },
        { name: 'fc_1/kernel', shape: [300, 40], values: kernel(12_000, 1) },
        { name: 'fc_1/bias', shape: [40], values: kernel(40, 2) },
        { name: 'fc_2/kernel', shape: [40, 30], values: kernel(1200, 3) },
        { name: 'fc_3/kernel', shape: [30, 1000], values: kernel(30_000, 4) },
        { name: 'fc_4/kernel', shape: [50, 50], values: kernel(2500, 5) },
      ]),
      // One kernel: the output is too small to be scratch.
      syntheticModel([{ name: 'fc/kernel', shape: [500, 64], values: kernel(32_000, 6) }]),
    ];
    for (const model of models) {
      const input = decodeWeights(model);
      for (const raw of [
        { clusters: 2 },
        { clusters: 16 },
        { bits: 8, init: 'linear' },
        { clusters: 1000, preserveZeros: false },
        { clusters: 64, seed: 3, iterations: 2 },
      ]) {
        const options = cluster.resolveOptions(raw, place);
        const { model: out, stats } = await cluster.apply(model, options, ctx);
        const layers = stats.layers as {
          weight: string;
          meanSquaredError: number;
          distinctValues: number;
          clusters: number;
        }[];
        for (const [i, w] of decodeWeights(out).entries()) {
          const before = input[i]!.values as Float32Array;
          if (!/kernel$/.test(w.spec.name)) {
            expect(w.values).toEqual(before);
            continue;
          }
          const expected = reference(before, options);
          const got = w.values as Float32Array;
          const firstDifference = got.findIndex((x, j) => !Object.is(x, expected.out[j]));
          expect(firstDifference, `${w.spec.name} ${JSON.stringify(raw)}`).toBe(-1);
          const layer = layers.find((l) => l.weight === w.spec.name)!;
          expect(layer.meanSquaredError).toBe(expected.meanSquaredError);
          expect(layer.distinctValues).toBe(expected.distinctValues);
          expect(layer.clusters).toBe(expected.clusters);
        }
        expect(out.weightData.byteLength).toBe(model.weightData.byteLength);
      }
    }
  });
});

describe('cluster pass on kernels of more than 2^20 values (fitted on a sample)', () => {
  const n = 1_500_000; // 1.2 million not zero
  /** Bell-shaped weights with duplicates, ±0 (a fifth of them) and a few far values. */
  function big(seed: number): Float32Array {
    const random = mulberry32(seed);
    return Float32Array.from({ length: n }, (_, i) => {
      const r = random();
      if (r < 0.2) return r < 0.1 ? 0 : -0;
      if (r < 0.25) return Math.fround(0.001953125 * Math.floor(random() * 64));
      return (random() + random() + random() - 1.5) * (i % 1000 === 0 ? 3 : 0.05);
    });
  }

  it('every value goes to its nearest centroid; exact statistics; deterministic; close to the full k-means error', async () => {
    const values = big(1);
    const model = syntheticModel([{ name: 'fc/kernel', shape: [1500, 1000], values }]);
    for (const raw of [
      { clusters: 16 },
      { bits: 5, seed: 2 },
      { clusters: 32, seed: 5 },
      { clusters: 8, preserveZeros: false },
    ]) {
      const options = cluster.resolveOptions(raw, place);
      const keep = options.preserveZeros;
      const { model: out, stats } = await cluster.apply(model, options, ctx);
      const again = await cluster.apply(model, options, ctx);
      expect(Buffer.compare(again.model.weightData, out.weightData), 'deterministic').toBe(0);
      const got = decodeWeights(out)[0]!.values as Float32Array;
      const centroids = [...new Set(Array.from(got).filter((x, i) => !(keep && values[i] === 0)))].sort(
        (a, b) => a - b,
      );
      expect(centroids).toHaveLength(options.clusters);
      let wrong = 0;
      let sumSq = 0;
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        if (keep && x === 0) {
          if (!Object.is(got[i], x)) wrong++;
          continue;
        }
        // No centroid nearer than the one written (up to the rounding of the midpoints in float64).
        const d = Math.abs(x - got[i]!);
        const j = centroids.indexOf(got[i]!);
        if (
          (j > 0 && Math.abs(x - centroids[j - 1]!) < d * (1 - 1e-12)) ||
          (j + 1 < centroids.length && Math.abs(x - centroids[j + 1]!) < d * (1 - 1e-12))
        )
          wrong++;
        sumSq += (got[i]! - x) * (got[i]! - x);
      }
      expect(wrong).toBe(0);
      const layer = (stats.layers as ClusterLayerStatsLike[])[0]!;
      const clustered = Array.from(values).filter((x) => !keep || x !== 0);
      expect(layer.meanSquaredError).toBe(sumSq / n);
      expect(layer.distinctBefore).toBe(new Set(values).size);
      expect(layer.distinctValues).toBe(new Set(got).size);
      expect(layer.zerosKept).toBe(n - clustered.length);
      // Fitted on a quarter of a million quantiles, the error is within 3% of k-means on all values (these
      // heavy tails are the hard case: 0.1% of the weights 60 times larger).
      const full = kmeans1d(clustered, options.clusters, options);
      expect(layer.meanSquaredError).toBeLessThan((full.sse / n) * 1.03);
    }
  });

  it('falls back to all values when the sample misses values needed for K clusters', async () => {
    // 16 values repeated, and one more once: 17 distinct values, K = 17, the quantiles miss the single one.
    const values = Float32Array.from({ length: n }, (_, i) => (i === 777_777 ? 0.999 : ((i * 7) % 16) / 16 - 0.47));
    const model = syntheticModel([{ name: 'fc/kernel', shape: [1500, 1000], values }]);
    const options = cluster.resolveOptions({ clusters: 17 }, place);
    const { model: out, stats } = await cluster.apply(model, options, ctx);
    const fit = kmeans1d(values, 17, options);
    const expected = values.map((x) => fit.centroids[clusterOf(fit.upper, x)]!);
    const got = decodeWeights(out)[0]!.values as Float32Array;
    expect(got.findIndex((x, i) => !Object.is(x, expected[i]))).toBe(-1);
    expect((stats.layers as ClusterLayerStatsLike[])[0]!.distinctValues).toBe(17);
  });
});

describe('cluster on real models', () => {
  it('leaves each kernel at most K distinct values (exactly K), keeps zeros, biases and batch norm; deterministic', async () => {
    const input = zeroSome(await stored('mobilenet-v1', { alpha: 0.25, depth: 0 }, 3), ['conv_pw_1/kernel'], 3);
    const options = cluster.resolveOptions({ bits: 3 }, place);
    const a = await cluster.apply(input, options, ctx);
    const b = await cluster.apply(input, options, ctx);
    expect(Buffer.from(a.model.weightData).equals(Buffer.from(b.model.weightData))).toBe(true);
    const before = decodeWeights(input);
    const after = decodeWeights(a.model);
    let kernels = 0;
    for (const [i, w] of before.entries()) {
      const v = w.values as Float32Array;
      const out = after[i]!.values as Float32Array;
      expect(after[i]!.spec).toEqual(w.spec);
      if (!KERNEL.test(w.spec.name)) {
        expect(Array.from(out)).toEqual(Array.from(v)); // biases, BN gamma/beta/moving stats untouched
        continue;
      }
      kernels++;
      expect(nonZeroDistinct(out)).toBe(Math.min(8, nonZeroDistinct(v)));
      for (let k = 0; k < v.length; k++) if (v[k] === 0) expect(out[k]).toBe(0);
      if (w.spec.name === 'conv_pw_1/kernel') expect(distinct(out)).toBe(9); // 8 centroids and the kept 0
    }
    expect(before.some((w) => /moving_mean/.test(w.spec.name))).toBe(true);
    expect(before.some((w) => /depthwise_kernel/.test(w.spec.name))).toBe(true);
    expect(a.stats.kernelsClustered).toBe(kernels);
    const layers = a.stats.layers as {
      weight: string;
      clusters: number;
      distinctValues: number;
      meanSquaredError: number;
      zerosKept: number;
    }[];
    expect(layers.find((l) => l.weight === 'conv_pw_1/kernel')).toMatchObject({ clusters: 8, distinctValues: 9 });
    expect(layers.find((l) => l.weight === 'conv_pw_1/kernel')!.zerosKept).toBeGreaterThan(0);
    expect(layers.every((l) => l.meanSquaredError > 0)).toBe(true);
    expect(a.stats.meanSquaredError).toBeGreaterThan(0);
    // another seed gives another (kmeans++) start
    const c = await cluster.apply(input, cluster.resolveOptions({ bits: 3, seed: 2 }, place), ctx);
    expect(Buffer.from(c.model.weightData).equals(Buffer.from(a.model.weightData))).toBe(false);
  });

  it('clusters zeros too with preserveZeros: false', async () => {
    const input = zeroSome(await stored('mlp', { hidden: [16] }, 1), ['fc_1/kernel'], 2);
    const { model } = await cluster.apply(
      input,
      cluster.resolveOptions({ clusters: 4, preserveZeros: false, init: 'linear' }, place),
      ctx,
    );
    const fc1 = decodeWeights(model).find((w) => w.spec.name === 'fc_1/kernel')!.values;
    expect(distinct(fc1)).toBeLessThanOrEqual(4);
  });

  it('refuses K above the weights of a layer, naming the layer and the option', async () => {
    const input = await stored('mobilenet-v1', { alpha: 0.25, depth: 0 }, 3);
    const options = cluster.resolveOptions({ clusters: 128 }, place);
    await expect(cluster.apply(input, options, ctx)).rejects.toThrow(McbError);
    await expect(cluster.apply(input, options, ctx)).rejects.toThrow(
      /layer conv1 \(weight conv1\/kernel\) has only 72 non-zero weights, fewer than the 128 clusters asked for by `passes\[0\]\.cluster\.clusters` at r\.yaml:3:8/,
    );
  });
});

describe('cluster → finetune', () => {
  it('finetune trains the shared values and keeps the assignment, the zeros and ≤ K values per kernel, without leaks', async () => {
    // a trained mlp on a real MNIST slice, then fc_1 pruned by a third, then clustered to 16 values
    const train = await loadMnist('train', 1024);
    const trainCtx: PassContext = { ...ctx, data: async () => train };
    const trained = await finetune.apply(
      await stored('mlp', { hidden: [64] }, 2),
      finetune.resolveOptions({ epochs: 2, learningRate: 0.003, batchSize: 32 }, place),
      trainCtx,
    );
    const pruned = zeroSome(trained.model, ['fc_1/kernel'], 3);
    const clustered = (await cluster.apply(pruned, cluster.resolveOptions({ bits: 4 }, place), ctx)).model;

    const tensors = tf.memory().numTensors;
    const tuned = await finetune.apply(
      clustered,
      finetune.resolveOptions({ epochs: 1, learningRate: 0.001, batchSize: 32 }, place),
      trainCtx,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tuned.stats.kept).toEqual([
      'sparsity of 1 kernel',
      'shared values of 2 clustered kernels (at most 16 per kernel)',
    ]);

    const before = decodeWeights(clustered);
    const after = decodeWeights(tuned.model);
    for (const [i, w] of before.entries()) {
      if (!KERNEL.test(w.spec.name)) continue;
      const v = w.values as Float32Array;
      const out = after[i]!.values as Float32Array;
      expect(nonZeroDistinct(out)).toBeLessThanOrEqual(16);
      expect(nonZeroDistinct(out)).toBe(nonZeroDistinct(v));
      // the same partition: weights that shared a value before share one after, zeros stay zeros
      const map = new Map<number, number>();
      for (let k = 0; k < v.length; k++) {
        if (v[k] === 0) {
          expect(out[k]).toBe(0);
          continue;
        }
        if (!map.has(v[k]!)) map.set(v[k]!, out[k]!);
        expect(out[k]).toBe(map.get(v[k]!));
      }
      // the centroids moved
      expect([...map].some(([x, y]) => x !== y)).toBe(true);
    }

    const model = await toLayersModel(tf, tuned.model);
    const test = await loadMnist('test', 300);
    const predicted = await tf
      .tidy(() => (model.predict(tf.tensor(test.x, [300, 28, 28, 1])) as tf.Tensor).argMax(-1))
      .data();
    model.dispose();
    const accuracy = predicted.filter((c, i) => c === test.y[i]).length / 300;
    expect(accuracy).toBeGreaterThan(0.1 + 0.5);
  });

  it('a trained (unclustered) kernel is not taken for a clustered one', () => {
    expect(sharedValues(bell(5000, 9))).toBeUndefined();
    expect(sharedValues(Float32Array.from({ length: 100 }, (_, i) => i % 20))).toBeUndefined(); // 19 values, ~5 weights each
    const s = sharedValues(Float32Array.from({ length: 400 }, (_, i) => (i % 5) - 2))!;
    expect(Array.from(s.values)).toEqual([-2, -1, 1, 2]);
    expect(s.order).toHaveLength(320);
    expect(Array.from(s.orderIds)).toEqual([...s.orderIds].sort((x, y) => x - y));
  });
});

describe('cluster in a recipe', () => {
  it('cluster (bits 4) → eval keeps an mlp within a few points of its baseline; the stored kernels hold ≤ 16 values', async () => {
    const dir = tempDir();
    const file = writeText(join(dir, 'cl.yaml'), tinyRecipe({ passes: '  - cluster: { bits: 4 }', output: './out' }));
    const result = await build(file, { cacheDir: join(dir, 'c'), backend: 'wasm' });
    expect(result.execution.ran).toEqual(['baseline', 'eval-baseline', 'pass-1-cluster', 'eval-result']);
    const { baseline, result: res } = result.report.metrics as unknown as Record<
      'baseline' | 'result',
      { accuracy: number }
    >;
    expect(res.accuracy).toBeGreaterThan(baseline.accuracy - 0.03);
    const { model } = await readModelDir(join(dir, 'out', 'model.json'));
    for (const w of decodeWeights(model))
      if (KERNEL.test(w.spec.name)) expect(distinct(w.values)).toBeLessThanOrEqual(16);
  });

  it('bad options fail with McbError pointing at the recipe', async () => {
    const dir = tempDir();
    const recipe = (options: string) =>
      writeText(join(dir, 'bad.yaml'), tinyRecipe({ passes: `  - cluster: ${options}`, output: './out' }));
    const lineCol = (file: string, key: string) => {
      const lines = readFileSync(file, 'utf8').split('\n');
      const line = lines.findIndex((l) => l.includes('cluster:'));
      return `${line + 1}:${lines[line]!.indexOf(key) + key.length + 2}`;
    };
    let file = recipe('{ clusters: 16, bits: 4 }');
    await expect(planBuild(file, { cacheDir: join(dir, 'c') })).rejects.toThrow(
      new RegExp(`sets both clusters \\(16\\) and bits \\(4\\) at .*bad\\.yaml:${lineCol(file, 'bits:')}`),
    );
    file = recipe('{ bits: 20 }');
    await expect(planBuild(file, { cacheDir: join(dir, 'c') })).rejects.toThrow(
      new RegExp(
        `\`passes\\[0\\]\\.cluster\\.bits\` must be <= 16 \\(got 20\\) at .*bad\\.yaml:${lineCol(file, 'bits:')}`,
      ),
    );
    file = recipe('{ clusters: 1000 }');
    const err = await build(file, { cacheDir: join(dir, 'c'), backend: 'wasm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McbError);
    expect((err as McbError).code).toBe('MCB_RECIPE_INVALID');
    expect((err as McbError).message).toMatch(
      new RegExp(
        `layer predictions \\(weight predictions/kernel\\) has only 320 non-zero weights, fewer than the 1000 clusters asked for by \`passes\\[0\\]\\.cluster\\.clusters\` at .*bad\\.yaml:${lineCol(file, 'clusters:')}`,
      ),
    );
  });
});
