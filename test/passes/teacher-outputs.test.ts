/**
 * Learning from a teacher with several outputs (src/passes/teacher/train.ts): every output of the teacher is
 * kept and matched by its own term (KL for a softmax head, variance-scaled MSE for a regression head), so
 * label-free finetune after pruning pulls BOTH heads back towards the baseline; the stats list each output;
 * a teacher whose outputs differ from the model's is refused (exit 2) naming both lists; the nested two-output
 * fixture finetunes label-free.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { McbError } from '../../src/errors.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { readModelDir, type StoredModel } from '../../src/model/index.js';
import { finetune } from '../../src/passes/finetune/index.js';
import type { PassContext, PassInput } from '../../src/passes/index.js';
import { prune } from '../../src/passes/prune/index.js';
import { distillationLoss, soften, softTargetLoss, variance } from '../../src/passes/teacher/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { nestedLayers } from '../fixtures/models/index.js';

const place = (index: number, name: string) => ({
  path: ['passes', index, name],
  at: (option?: string) => `r.yaml:${index + 10}:${option ? 20 : 5}`,
});
const labelFree = (index: number, passes: string[]): PassInput => ({
  modelAt: 'r.yaml:3:3',
  entry: { index, passes },
  labelled: (kind) => (kind === 'train' ? false : undefined),
});

/** `count` seeded samples of `shape`, no `y`. */
function unlabelled(count: number, shape: number[]): Dataset {
  const random = mulberry32(7);
  const x = new Float32Array(count * shape.reduce((a, b) => a * b, 1)).map(() => random() * 2 - 1);
  return { name: 'features', x, count, inputShape: shape };
}

/** A functional model: 8 features → shared hidden layer → `probs` (4-way softmax) and `box` (3 linear values). */
async function twoHeads(seed: number, heads: ('probs' | 'box')[] = ['probs', 'box']): Promise<StoredModel> {
  const input = tf.input({ shape: [8], name: 'features' });
  const hidden = tf.layers
    .dense({
      units: 32,
      activation: 'relu',
      name: 'hidden',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    })
    .apply(input) as tf.SymbolicTensor;
  const head = (name: 'probs' | 'box') =>
    tf.layers
      .dense({
        name,
        units: name === 'probs' ? 4 : 3,
        activation: name === 'probs' ? 'softmax' : 'linear',
        // The box head on a scale 25 times the scores' (pixels against probabilities).
        kernelInitializer: tf.initializers.randomNormal({ stddev: name === 'probs' ? 0.5 : 5, seed: seed + 1 }),
      })
      .apply(hidden) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: heads.map(head) });
  const stored = await fromLayersModel(tf, m);
  m.dispose();
  return stored;
}

function context(ds: Dataset, teacher: StoredModel): PassContext {
  return {
    place: place(1, 'finetune'),
    engine: () => loadEngine('wasm'),
    data: () => Promise.resolve(ds),
    model: (name) => (name === 'teacher' ? Promise.resolve(teacher) : Promise.reject(new Error(name))),
    signal: new AbortController().signal,
    progress: () => {},
  };
}

/** Per output of `a` against the baseline `b` over `ds`: mean KL(b ‖ a) for `probs`, mean 1 − cosine for `box`. */
async function distances(a: StoredModel, b: StoredModel, ds: Dataset): Promise<{ probs: number; box: number }> {
  const [ma, mb] = [await toLayersModel(tf, a), await toLayersModel(tf, b)];
  const result = tf.tidy(() => {
    const x = tf.tensor(ds.x, [ds.count, 8]);
    const [pa, ba] = ma.predict(x) as tf.Tensor[];
    const [pb, bb] = mb.predict(x) as tf.Tensor[];
    const kl = tf.mean(tf.sum(tf.mul(pb!, tf.sub(tf.log(tf.add(pb!, 1e-9)), tf.log(tf.add(pa!, 1e-9)))), -1));
    const cos = tf.div(tf.sum(tf.mul(ba!, bb!), -1), tf.mul(tf.norm(ba!, 2, -1), tf.norm(bb!, 2, -1)));
    return { probs: kl.dataSync()[0]!, box: 1 - tf.mean(cos).dataSync()[0]! };
  });
  ma.dispose();
  mb.dispose();
  return result;
}

describe('a teacher with several outputs', () => {
  beforeAll(async () => {
    await loadEngine('wasm');
  });

  it('prune 50% then label-free finetune brings both heads back towards the baseline, without leaks', async () => {
    const ds = unlabelled(256, [8]);
    const baseline = await twoHeads(1);
    const ctx = context(ds, baseline);
    const pruned = (await prune.apply(baseline, prune.resolveOptions({ sparsity: 0.5 }, place(0, 'prune')), ctx)).model;
    const options = finetune.resolveOptions(
      { epochs: 15, learningRate: 0.005, batchSize: 32 },
      place(1, 'finetune'),
      labelFree(1, ['prune', 'finetune']),
    );
    expect(options).toMatchObject({ teacher: 'baseline', teacherWeight: 1 });
    const tensors = tf.memory().numTensors;
    const out = await finetune.apply(pruned, options, ctx);
    expect(tf.memory().numTensors).toBe(tensors);

    const before = await distances(pruned, baseline, ds);
    const after = await distances(out.model, baseline, ds);
    expect(before.probs).toBeGreaterThan(0.01);
    expect(before.box).toBeGreaterThan(0.01);
    expect(after.probs).toBeLessThan(before.probs / 2);
    expect(after.box).toBeLessThan(before.box / 2);

    // The variance of the teacher's box output over data.train, which its MSE term is divided by.
    const teacherModel = await toLayersModel(tf, baseline);
    const boxes = tf.tidy(() => (teacherModel.predict(tf.tensor(ds.x, [ds.count, 8])) as tf.Tensor[])[1]!.dataSync());
    teacherModel.dispose();
    const boxVariance = variance(new Float32Array(boxes));
    expect(boxVariance).toBeGreaterThan(1);
    expect(out.stats.teacher).toEqual({
      model: 'baseline',
      loss: 'mixed',
      weight: 1,
      temperature: 2,
      forwardSamples: 256,
      outputs: [
        { name: 'probs', width: 4, loss: 'kl' },
        { name: 'box', width: 3, loss: 'mse', variance: boxVariance },
      ],
    });
    // The pruning stayed: finetune kept the zeros.
    expect(out.stats.kept).toEqual([expect.stringMatching(/^sparsity of \d+ kernels?$/) as unknown]);
  });

  it('the same run twice gives the same bytes', async () => {
    const ds = unlabelled(64, [8]);
    const baseline = await twoHeads(3);
    const student = await twoHeads(5);
    const options = finetune.resolveOptions(
      { epochs: 2, batchSize: 16 },
      place(0, 'finetune'),
      labelFree(0, ['finetune']),
    );
    const a = await finetune.apply(student, options, context(ds, baseline));
    const b = await finetune.apply(student, options, context(ds, baseline));
    expect(Buffer.from(a.model.weightData).equals(Buffer.from(b.model.weightData))).toBe(true);
  });

  it('the per-output terms: KL alone equals distillation without labels; the variance that scales MSE', () => {
    const probs = tf.tensor2d([
      [0.7, 0.2, 0.1],
      [0.1, 0.1, 0.8],
    ]);
    const soft = tf.tensor2d([
      [0.5, 0.3, 0.2],
      [0.2, 0.2, 0.6],
    ]);
    const labels = tf.zeros([2, 3]);
    const [alone, distilled] = [softTargetLoss(tf, probs, soft, 3), distillationLoss(tf, probs, labels, soft, 0, 3)];
    expect(alone.dataSync()[0]).toBeGreaterThan(0);
    expect(alone.dataSync()[0]).toBeCloseTo(distilled.dataSync()[0]!, 6);
    // A student whose softened output is the target: nothing left to learn.
    const own = tf.tensor2d(soften(new Float32Array(probs.dataSync()), 3, 3), [2, 3]);
    const none = softTargetLoss(tf, probs, own, 3);
    expect(none.dataSync()[0]).toBeCloseTo(0, 6);
    tf.dispose([own, none]);
    tf.dispose([probs, soft, labels, alone, distilled]);
    expect(variance(new Float32Array([1, 3, 5, 7]))).toBe(5);
    expect(variance(new Float32Array([2, 2]))).toBe(0);
  });

  it('scheduled prune without labels learns every output of its teacher while it prunes', async () => {
    const ds = unlabelled(128, [8]);
    const baseline = await twoHeads(1);
    const ctx = context(ds, baseline);
    const raw = { sparsity: 0.6, schedule: { steps: 40, frequency: 10 }, learningRate: 0.005, batchSize: 32 };
    const scheduled = prune.resolveOptions(raw, place(0, 'prune'), labelFree(0, ['prune']));
    const out = await prune.apply(baseline, scheduled, ctx);
    expect(out.stats.schedule).toMatchObject({
      teacher: {
        loss: 'mixed',
        outputs: [
          { name: 'probs', width: 4, loss: 'kl' },
          { name: 'box', width: 3, loss: 'mse' },
        ],
      },
    });
    const oneShot = await prune.apply(baseline, prune.resolveOptions({ sparsity: 0.6 }, place(0, 'prune')), ctx);
    const [trained, shot] = [await distances(out.model, baseline, ds), await distances(oneShot.model, baseline, ds)];
    expect(trained.probs).toBeLessThan(shot.probs);
    expect(trained.box).toBeLessThan(shot.box);
  });

  it('a teacher whose outputs differ from the model’s is exit 2, naming both lists', async () => {
    const ds = unlabelled(32, [8]);
    const options = finetune.resolveOptions({ epochs: 1 }, place(1, 'finetune'), labelFree(1, ['prune', 'finetune']));
    const run = (student: StoredModel, teacher: StoredModel) => finetune.apply(student, options, context(ds, teacher));
    const error = await run(await twoHeads(1), await twoHeads(1, ['probs'])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McbError);
    expect((error as McbError).exitCode).toBe(2);
    expect((error as McbError).message).toMatch(
      /the teacher, baseline, has one output \(probs: 4 values\) but the model being trained has 2 outputs \(probs: 4 values, box: 3 values\); name a teacher with the same outputs as the model, in the same order .*\(teacher at r\.yaml:11:20\)/,
    );
    // Same count, other order: refused too (a pass may rename outputs, never reorder them).
    await expect(run(await twoHeads(1), await twoHeads(1, ['box', 'probs']))).rejects.toThrow(
      /has 2 outputs \(box: 3 values, probs: 4 values\) but the model being trained has 2 outputs \(probs: 4 values, box: 3 values\)/,
    );
  });

  it('with labels, teacherWeight below 1 scores the first output when it is a distribution, else it is refused', async () => {
    const ds: Dataset = { ...unlabelled(64, [8]), y: new Uint32Array(64).map((_, i) => i % 4), numClasses: 4 };
    const raw = { epochs: 1, batchSize: 16, teacher: 'baseline', teacherWeight: 0.5 };
    const labelled: PassInput = { ...labelFree(1, ['prune', 'finetune']), labelled: () => true };
    const options = finetune.resolveOptions(raw, place(1, 'finetune'), labelled);
    const out = await finetune.apply(await twoHeads(2), options, context(ds, await twoHeads(1)));
    expect(out.stats.teacher).toMatchObject({ weight: 0.5, loss: 'mixed' });
    const boxFirst = await twoHeads(1, ['box', 'probs']);
    await expect(finetune.apply(boxFirst, options, context(ds, boxFirst))).rejects.toThrow(
      /outputs values that are not probabilities in its first output \(the one labels score\).*set `teacherWeight: 1`/,
    );
  });

  it('the nested two-output fixture (softmax classes, proj embedding) finetunes label-free', async () => {
    const f = await nestedLayers();
    const { model } = await readModelDir(f.modelJson);
    const ds = unlabelled(16, [64, 64, 3]);
    const options = finetune.resolveOptions(
      { epochs: 1, batchSize: 8 },
      place(0, 'finetune'),
      labelFree(0, ['finetune']),
    );
    const out = await finetune.apply(model, options, context(ds, model));
    expect(out.stats.teacher).toMatchObject({
      loss: 'mixed',
      outputs: [
        { name: 'classes', width: 10, loss: 'kl' },
        { name: 'proj', width: 32, loss: 'mse', variance: expect.any(Number) as unknown },
      ],
    });
    expect(out.stats.epochLosses).toHaveLength(1);
    expect(Number.isFinite((out.stats.epochLosses as number[])[0])).toBe(true);
  });
});
