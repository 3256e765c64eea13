import * as tf from '@tensorflow/tfjs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import type { Dataset } from '../../src/data/index.js';
import { ARCHITECTURE_NAMES } from '../../src/engine/index.js';
import { modelToFiles, type StoredModel } from '../../src/model/index.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { trainModel } from '../../src/engine/train.js';
import { build, planBuild } from '../../src/index.js';
import { loadSchema } from '../../src/recipe/validate.js';
import { distill, distillationLoss, scaleWidth, type DistillOptions } from '../../src/passes/distill/index.js';
import type { PassContext } from '../../src/passes/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const place = { path: ['passes', 2, 'distill'], at: (o?: string) => `r.yaml:9:${o ?? 'entry'}` };
const mlp1200 = { modelAt: 'r.yaml:4:3', architecture: { architecture: 'mlp', options: { hidden: [1200, 1200] } } };
const resolve = (raw: Record<string, unknown>, input: Parameters<typeof distill.resolveOptions>[2] = mlp1200) =>
  distill.resolveOptions(raw, place, input);
const SHAPE = { inputShape: [28, 28, 1], numClasses: 10 };

beforeAll(async () => {
  await loadEngine('wasm');
});

afterEach(() => {
  vi.restoreAllMocks();
});

function context(data: Partial<Record<'train' | 'eval', Dataset>>): PassContext {
  return {
    engine: () => loadEngine('wasm'),
    data: async (kind) => data[kind as 'train' | 'eval']!,
    signal: new AbortController().signal,
    progress: () => {},
  };
}

/** A small teacher trained on real digits: mlp [128]. */
async function trainTeacher(train: Dataset): Promise<StoredModel> {
  const model = buildArchitecture(tf, 'mlp', { hidden: [128] }, { ...SHAPE, seed: 5 });
  await trainModel(tf, model, train, { epochs: 8, batchSize: 32, learningRate: 0.002, optimizer: 'adam', seed: 5 });
  const stored = await fromLayersModel(tf, model);
  model.dispose();
  return stored;
}

describe('distill options', () => {
  it('fills defaults and names the student', () => {
    expect(resolve({ student: { architecture: 'mlp', options: { hidden: [100] } } })).toEqual({
      student: { architecture: 'mlp', options: { hidden: [100] } },
      alpha: 0.1,
      temperature: 4,
      epochs: 10,
      batchSize: 64,
      learningRate: 0.001,
      optimizer: 'adam',
      schedule: { type: 'constant' },
      seed: 1,
      compareAlone: false,
    } satisfies DistillOptions);
    expect(resolve({ student: { architecture: 'lenet5' } }).student).toEqual({ architecture: 'lenet5', options: {} });
  });

  it("`width` scales the teacher's own architecture, from its defaults when an option is left out", () => {
    expect(resolve({ student: { width: 0.5 } }).student).toEqual({
      architecture: 'mlp',
      options: { hidden: [600, 600] },
    });
    expect(scaleWidth({ architecture: 'mlp', options: {} }, 0.25)).toEqual({
      architecture: 'mlp',
      options: { hidden: [75, 25] },
    });
    expect(scaleWidth({ architecture: 'mlp', options: { hidden: [3] } }, 0.1)).toEqual({
      architecture: 'mlp',
      options: { hidden: [1] },
    });
    expect(scaleWidth({ architecture: 'lenet5', options: { padding: 'valid' } }, 0.5)).toEqual({
      architecture: 'lenet5',
      options: { padding: 'valid', filters: [3, 8], hidden: [60, 42] },
    });
    expect(scaleWidth({ architecture: 'mobilenet-v1', options: { depth: 2 } }, 0.5)).toEqual({
      architecture: 'mobilenet-v1',
      options: { depth: 2, alpha: 0.25 },
    });
    expect(scaleWidth({ architecture: 'mobilenet-v2', options: { alpha: 1 } }, 0.5)).toEqual({
      architecture: 'mobilenet-v2',
      options: { alpha: 0.5 },
    });
    // Every builtin architecture has a width rule.
    for (const name of ARCHITECTURE_NAMES)
      expect(() => scaleWidth({ architecture: name, options: {} }, 0.5)).not.toThrow();
  });

  it('reads data.eval only to compare with the student trained alone', () => {
    expect(distill.needs!(resolve({ student: { width: 0.5 } }))).toEqual(['train']);
    expect(distill.needs!(resolve({ student: { width: 0.5 }, compareAlone: true }))).toEqual(['train', 'eval']);
  });

  it('refuses a student it cannot build, in one paragraph pointing at the option', () => {
    const bad: [Record<string, unknown>, Parameters<typeof resolve>[1], RegExp][] = [
      [
        {},
        mlp1200,
        /`passes\[2\]\.distill` names no student at r\.yaml:9:entry; add one, e\.g\. `student: \{ architecture: mlp/,
      ],
      [
        { student: { architecture: 'mlp', width: 0.5 } },
        mlp1200,
        /`passes\[2\]\.distill\.student` sets both architecture and width at r\.yaml:9:student; keep one/,
      ],
      [
        { student: { options: { hidden: [3] } } },
        mlp1200,
        /`passes\[2\]\.distill\.student` names neither an architecture nor a width at r\.yaml:9:student/,
      ],
      [
        { student: { width: 0.5, options: { hidden: [3] } } },
        mlp1200,
        /sets options with width at r\.yaml:9:student; `options` go with `architecture`/,
      ],
      [
        { student: { architecture: 'resnet' } },
        mlp1200,
        /names an unknown architecture "resnet" at r\.yaml:9:student; known: mlp, lenet5/,
      ],
      [
        { student: { width: 0.5 } },
        { modelAt: 'r.yaml:4:9' },
        /`passes\[2\]\.distill\.student` sets width 0\.5, which scales the teacher's builtin architecture, but the teacher is loaded from a file \(model\.path at r\.yaml:4:9\) and its architecture is not known to mcbuild, at r\.yaml:9:student\. Name the student instead, e\.g\. `student: \{ architecture: mlp, options: \{ hidden: \[100\] \} \}`, or train the teacher with `model\.train`\./,
      ],
    ];
    for (const [raw, input, message] of bad) {
      let error: unknown;
      try {
        resolve(raw, input);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ name: 'McbError', code: 'MCB_RECIPE_INVALID' });
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it("the schema checks a student's options like model.train's, for every architecture", () => {
    const defs = (
      loadSchema() as {
        $defs: Record<
          string,
          { allOf?: { $ref: string }[]; properties?: Record<string, { allOf?: { $ref: string }[] }> }
        >;
      }
    ).$defs;
    const refs = defs['pass-distill']!.properties!.student!.allOf!.map((r) => r.$ref);
    expect(refs).toEqual(defs.train!.allOf!.map((_, i) => `#/$defs/train/allOf/${i}`));
  });
});

describe('the distillation loss', () => {
  it("equals α·CE + (1−α)·T²·KL computed directly from the logits, and its gradient is Hinton's", () => {
    const n = 5;
    const c = 7;
    const rand = (k: number) => Array.from({ length: k }, (_, i) => Math.sin(i * 12.9898 + k) * 6);
    const zs = rand(n * c); // student logits, spread over ±6
    const zt = rand(n * c + 1)
      .slice(1)
      .map((v) => v * 1.7); // teacher logits
    const labels = Array.from({ length: n }, (_, i) => (i * 3) % c);
    const [alpha, T] = [0.3, 2.5];
    const softmax = (z: number[], t: number) => {
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp((v - m) / t));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    let expected = 0;
    const gradient: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = zs.slice(i * c, (i + 1) * c);
      const p = softmax(s, 1);
      const q = softmax(zt.slice(i * c, (i + 1) * c), T);
      const r = softmax(s, T);
      const ce = -Math.log(p[labels[i]!]!);
      const kl = q.reduce((a, qk, k) => a + qk * Math.log(qk / r[k]!), 0);
      expected += (alpha * ce + (1 - alpha) * T * T * kl) / n;
      // d/dz: α(p − y) + (1−α)·T·(r − q), averaged over the batch (Hinton et al. 2015, section 2.1).
      for (let k = 0; k < c; k++)
        gradient.push((alpha * (p[k]! - (k === labels[i] ? 1 : 0)) + (1 - alpha) * T * (r[k]! - q[k]!)) / n);
    }
    const tensors = tf.memory().numTensors;
    const { loss, g, nan } = tf.tidy(() => {
      const logits = tf.tensor2d(zs, [n, c]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), c).toFloat();
      const soft = tf.softmax(tf.tensor2d(zt, [n, c]).div(T));
      return {
        loss: distillationLoss(tf, tf.softmax(logits), y, soft, alpha, T).dataSync()[0]!,
        g: tf
          .grad((z: tf.Tensor) => distillationLoss(tf, tf.softmax(z), y, soft, alpha, T))(logits)
          .dataSync(),
        // A NaN prediction is not hidden by the floor under the log.
        nan: distillationLoss(tf, tf.fill([n, c], Number.NaN), y, soft, alpha, T).dataSync()[0]!,
      };
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(loss).toBeCloseTo(expected, 5);
    for (let k = 0; k < g.length; k++) expect(g[k]).toBeCloseTo(gradient[k]!, 5);
    expect(Number.isNaN(nan)).toBe(true);
  });
});

describe('distill on real digits', () => {
  // One teacher for these tests: mlp [128], trained on 1,500 digits (92% on 500 test digits).
  let teacher: StoredModel;
  beforeAll(async () => {
    teacher = await trainTeacher(await loadMnist('train', 1500));
  }, 120_000);

  it('with few labelled digits, the student learns far more from the teacher than from the labels alone', async () => {
    // Hinton et al. 2015 (section 3): soft targets carry much more information per sample than labels, so a
    // student trained on a small transfer set generalises far better with them. 200 digits, 500 to measure.
    const transfer = await loadMnist('train', 200);
    const test = await loadMnist('test', 500);
    const options = resolve({
      student: { architecture: 'mlp', options: { hidden: [32] } },
      epochs: 100,
      batchSize: 50,
      compareAlone: true,
    });
    const tensors = tf.memory().numTensors;
    const out = await distill.apply(teacher, options, context({ train: transfer, eval: test }));
    expect(tf.memory().numTensors).toBe(tensors);
    const { errors, gapClosed } = out.stats.compare as {
      errors: { teacher: number; alone: number; distilled: number };
      gapClosed: number;
    };
    // Measured on wasm: teacher 43, alone 101, distilled 69 errors (gap closed 55%); 100 epochs of 4 batches.
    expect(errors.alone - errors.distilled).toBeGreaterThanOrEqual(15);
    expect(gapClosed).toBeGreaterThan(0.3);
    expect(errors.teacher).toBeLessThan(errors.distilled);
    // The output is the student: a new model of the named architecture, with none of the teacher's metadata.
    expect(out.model.json.userDefinedMetadata).toBeUndefined();
    const student = await toLayersModel(tf, out.model);
    expect(student.layers.map((l) => l.name)).toEqual(['flatten', 'fc_1', 'predictions']);
    student.dispose();
    expect(out.stats.student).toEqual({
      architecture: 'mlp',
      options: { hidden: [32] },
      params: 784 * 32 + 32 + 32 * 10 + 10,
    });
  });

  it('compareAlone reports teacher, student alone and distilled on data.eval, without changing the student', async () => {
    const train = await loadMnist('train', 400);
    const test = await loadMnist('test', 300);
    const raw = { student: { architecture: 'mlp', options: { hidden: [12] } }, epochs: 3, batchSize: 32 };
    const plain = await distill.apply(teacher, resolve(raw), context({ train }));
    const options = resolve({ ...raw, compareAlone: true });
    const compared = await distill.apply(teacher, options, context({ train, eval: test }));
    expect(Buffer.from(compared.model.weightData).equals(Buffer.from(plain.model.weightData))).toBe(true);
    // Each number is what the model it names scores on data.eval, measured here independently.
    const errors = async (m: tf.LayersModel) => {
      const p = tf.tidy(() => (m.predict(tf.tensor(test.x, [test.count, 28, 28, 1])) as tf.Tensor).argMax(-1));
      const classes = await p.data();
      p.dispose();
      m.dispose();
      return classes.filter((k, i) => k !== test.y[i]).length;
    };
    const alone = buildArchitecture(tf, 'mlp', { hidden: [12] }, { ...SHAPE, seed: options.seed });
    await trainModel(tf, alone, train, options);
    const expected = {
      teacher: await errors(await toLayersModel(tf, teacher)),
      alone: await errors(alone),
      distilled: await errors(await toLayersModel(tf, compared.model)),
    };
    const compare = compared.stats.compare as {
      data: string;
      samples: number;
      errors: typeof expected;
      accuracy: Record<string, number>;
      gapClosed: number | null;
    };
    expect(compare).toMatchObject({ data: 'mnist/test', samples: 300, errors: expected });
    expect(compare.accuracy.distilled).toBeCloseTo(1 - expected.distilled / 300, 10);
    const gap = expected.alone - expected.teacher;
    expect(compare.gapClosed).toBe(gap > 0 ? (expected.alone - expected.distilled) / gap : null);
    expect(plain.stats.compare).toBeUndefined();
    // As report.json stores them, both are what the pass declares (meta.stats).
    const declared = new Ajv2020({ strict: true, allErrors: true }).compile(distill.meta.stats);
    for (const stats of [plain.stats, compared.stats])
      expect(declared(JSON.parse(JSON.stringify(stats))), JSON.stringify(declared.errors)).toBe(true);
  });

  it('runs the teacher once over data.train, not once per batch or epoch', async () => {
    const train = await loadMnist('train', 300);
    const teacherParams = 784 * 128 + 128 + 1290;
    const seen: number[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- the original, called below with the model as `this`
    const predict = tf.LayersModel.prototype.predict;
    vi.spyOn(tf.LayersModel.prototype, 'predict').mockImplementation(function (this: tf.LayersModel, x, args) {
      if (this.countParams() === teacherParams) seen.push((x as tf.Tensor).shape[0]);
      return predict.call(this, x, args);
    });
    const out = await distill.apply(
      teacher,
      resolve({ student: { architecture: 'mlp', options: { hidden: [8] } }, epochs: 3, batchSize: 32 }),
      context({ train }),
    );
    expect(seen).toEqual([256, 44]);
    expect(out.stats.teacherForwardSamples).toBe(300);
    expect((out.stats.epochLosses as number[]).length).toBe(3);
  });

  it("refuses a student whose output does not match the teacher's", async () => {
    const train = await loadMnist('train', 64);
    const twelve = buildArchitecture(tf, 'mlp', { hidden: [8] }, { ...SHAPE, numClasses: 12, seed: 1 }); // 12 outputs, for 10 classes
    const stored = await fromLayersModel(tf, twelve);
    twelve.dispose();
    const ctx = { ...context({ train }), place };
    const tensors = tf.memory().numTensors;
    const error = await distill
      .apply(stored, resolve({ student: { architecture: 'mlp', options: { hidden: [8] } } }), ctx)
      .catch((e: unknown) => e);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(error).toMatchObject({ name: 'McbError', code: 'MCB_MODEL_INVALID' });
    expect((error as Error).message).toMatch(
      /^`passes\[2\]\.distill`: the student's output does not match the teacher's: the student mlp outputs \[batch, 10\] \(one score per class of mnist\/train\) but the teacher outputs \[batch, 12\] at r\.yaml:9:student\. Distill a teacher that classifies the 10 classes/,
    );
    expect((error as Error).message).not.toContain('\n');
    // And a teacher that does not end in a softmax.
    const linear = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })],
    });
    const logits = await fromLayersModel(tf, linear);
    linear.dispose();
    await expect(
      distill.apply(logits, resolve({ student: { architecture: 'mlp', options: { hidden: [8] } } }), ctx),
    ).rejects.toThrow(/the teacher's outputs are not probabilities/);
  });
});

describe('distill in a recipe', () => {
  it('resolves `width` against model.train while planning, reads data.eval only with compareAlone, and reports the comparison', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'teacher'));
    const recipe = (passes: string, model?: string) =>
      writeText(
        join(dir, 'd.yaml'),
        tinyRecipe({ passes, ...(model ? { model } : {}) }).replace(
          'data:\n',
          'data:\n  train: { dataset: mnist, split: train, limit: 400 }\n',
        ),
      );
    const planned = await planBuild(
      recipe(
        '  - distill: { student: { width: 0.25 }, epochs: 2 }\n  - distill: { student: { width: 0.5 }, epochs: 1 }',
      ),
      { cacheDir: join(dir, 'c') },
    );
    const passSteps = planned.plan.steps.filter((s) => s.spec.kind === 'pass');
    // The teacher is mlp [32]: the first student is [8], the second scales the first: [4].
    expect(passSteps.map((s) => (s.spec as { options: DistillOptions }).options.student)).toEqual([
      { architecture: 'mlp', options: { hidden: [8] } },
      { architecture: 'mlp', options: { hidden: [4] } },
    ]);
    expect(Object.keys(passSteps[0]!.keyInputs.data as object)).toEqual(['train']);

    // The student's options are checked by the schema like model.train's.
    await expect(
      planBuild(recipe('  - distill: { student: { architecture: mlp, options: { hiden: [8] } } }'), {
        cacheDir: join(dir, 'c'),
      }),
    ).rejects.toThrow(
      /`passes\[0\]\.distill\.student\.options` has an unknown key `hiden` at .*d\.yaml:\d+:\d+ \(did you mean `hidden`\?\)/,
    );
    // A teacher loaded from a file has no known architecture to scale.
    const file = buildArchitecture(tf, 'mlp', { hidden: [4] }, { ...SHAPE, seed: 1 });
    for (const [name, bytes] of modelToFiles(await fromLayersModel(tf, file)))
      writeFileSync(join(dir, 'teacher', name), bytes);
    file.dispose();
    await expect(
      planBuild(recipe('  - distill: { student: { width: 0.5 } }', '  path: ./teacher/model.json'), {
        cacheDir: join(dir, 'c'),
      }),
    ).rejects.toThrow(
      /`passes\[0\]\.distill\.student` sets width 0\.5, which scales the teacher's builtin architecture, but the teacher is loaded from a file \(model\.path at .*d\.yaml:4:9\)/,
    );

    const result = await build(recipe('  - distill: { student: { width: 0.25 }, epochs: 2, compareAlone: true }'), {
      cacheDir: join(dir, 'c'),
      backend: 'wasm',
    });
    expect(result.execution.ran).toEqual(['baseline', 'eval-baseline', 'pass-1-distill', 'eval-result']);
    const stats = result.report.passes[0]!.stats as {
      compare: { samples: number; errors: { teacher: number; distilled: number } };
    };
    // Teacher and distilled student on data.eval: exactly what the baseline and result evaluations measured.
    expect(stats.compare.samples).toBe(300);
    expect(stats.compare.errors.teacher).toBe(300 - result.report.metrics.baseline.correct!);
    expect(stats.compare.errors.distilled).toBe(300 - result.report.metrics.result.correct!);
    expect(result.report.metrics.result.params).toBe(784 * 8 + 8 + 90);
  });
});
