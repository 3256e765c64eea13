/**
 * Learning from a teacher (src/passes/teacher/): how `teacher` resolves for finetune and scheduled prune,
 * that the teacher's key is in the step's key, that labelled entries without `teacher` plan exactly as before,
 * the refusals (exit 2, at the option's line), and both losses on real TF.js: KL for a classifier teacher and
 * MSE for one whose outputs are not probabilities, on data that has no labels at all.
 */
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { fromLayersModel, loadEngine, toLayersModel } from '../../src/engine/runtime.js';
import { planBuild } from '../../src/index.js';
import type { StoredModel } from '../../src/model/index.js';
import { finetune } from '../../src/passes/finetune/index.js';
import type { PassContext, PassInput } from '../../src/passes/index.js';
import { prune } from '../../src/passes/prune/index.js';
import { isDistribution, soften } from '../../src/passes/teacher/index.js';
import { runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const place = (index: number, name: string) => ({
  path: ['passes', index, name],
  at: (option?: string) => `r.yaml:${index + 10}:${option ? 20 : 5}`,
});
const input = (index: number, passes: string[], labelled: boolean): PassInput => ({
  modelAt: 'r.yaml:3:3',
  entry: { index, passes },
  labelled: (kind) => (kind === 'train' ? labelled : undefined),
});

describe('teacher options', () => {
  const passes = ['quantize', 'prune', 'finetune'];
  const resolve = (raw: Record<string, unknown>, labelled = true, index = 2) =>
    finetune.resolveOptions(raw, place(index, 'finetune'), input(index, passes, labelled));

  it('with labels and no teacher, finetune resolves as it always did', () => {
    expect(resolve({})).toEqual(finetune.resolveOptions({}, place(2, 'finetune')));
    expect(resolve({})).not.toHaveProperty('teacher');
  });

  it('without labels, the teacher is the baseline and it alone is learnt from', () => {
    expect(resolve({}, false)).toMatchObject({ teacher: 'baseline', teacherWeight: 1, temperature: 2 });
    expect(resolve({ teacherWeight: 0.5, temperature: 4 }, false)).toMatchObject({
      teacher: 'baseline',
      teacherWeight: 0.5,
      temperature: 4,
    });
  });

  it('with labels and a teacher written, the labels are mixed in', () => {
    expect(resolve({ teacher: 'baseline' })).toMatchObject({ teacher: 'baseline', teacherWeight: 0.9 });
  });

  it('previous: for finetune the model the entry before it received, for scheduled prune its own input', () => {
    expect(resolve({ teacher: 'previous' })).toMatchObject({ teacher: { pass: 0 } });
    expect(resolve({ teacher: 'previous' }, true, 1)).toMatchObject({ teacher: 'baseline' });
    const pruneOptions = (index: number) =>
      prune.resolveOptions(
        { sparsity: 0.5, schedule: { steps: 10 }, teacher: 'previous' },
        place(index, 'prune'),
        input(index, ['quantize', 'prune'], true),
      );
    expect(pruneOptions(1)).toMatchObject({ teacher: { pass: 0 } });
    expect(pruneOptions(0)).toMatchObject({ teacher: 'baseline' });
  });

  it('an earlier entry by name or by index resolves to the same reference', () => {
    expect(resolve({ teacher: 'prune' })).toMatchObject({ teacher: { pass: 1 } });
    expect(resolve({ teacher: 1 })).toEqual(resolve({ teacher: 'prune' }));
  });

  it('refuses a teacher that is no earlier model, at the option', () => {
    expect(() => resolve({ teacher: 'finetune' })).toThrow(
      /`passes\[2\]\.finetune\.teacher` names "finetune", which is no earlier entry of `passes`, at r\.yaml:12:20; name the model to learn from: `baseline`, `previous` or an earlier entry: 0 \(quantize\), 1 \(prune\)\./,
    );
    expect(() => resolve({ teacher: 2 })).toThrow(/names passes\[2\], which does not run before this entry/);
    expect(() => resolve({ teacher: 7 })).toThrow(/names passes\[7\], which does not exist \(`passes` has 3 entries\)/);
    expect(() =>
      finetune.resolveOptions({ teacher: 'previous' }, place(0, 'finetune'), input(0, ['finetune'], true)),
    ).toThrow(
      /is previous, the model the entry before finetune received, but finetune is the first pass, at r\.yaml:10:20; name the model to learn from: `baseline`\./,
    );
    expect(() =>
      finetune.resolveOptions(
        { teacher: 'prune' },
        place(3, 'finetune'),
        input(3, ['prune', 'quantize', 'prune'], true),
      ),
    ).toThrow(/names "prune", which runs 2 times before it \(passes 0, 2\): give the index/);
    // Outside planning (per-layer options at run time) the labels are not known: nothing to refuse there.
    expect(finetune.resolveOptions({ temperature: 3 }, place(2, 'finetune'))).not.toHaveProperty('teacher');
    expect(() => resolve({ temperature: 3 })).toThrow(
      /sets temperature without a teacher, at r\.yaml:12:20; .* Add `teacher: baseline`/,
    );
  });

  it('one-shot prune refuses teacher options (they go with a schedule)', () => {
    expect(() => prune.resolveOptions({ sparsity: 0.5, teacher: 'baseline' }, place(0, 'prune'))).toThrow(
      /sets teacher without a schedule/,
    );
  });

  it('tells distributions from other outputs, and softens them', () => {
    expect(isDistribution(new Float32Array([0.2, 0.8, 1, 0]), 2)).toBe(true);
    expect(isDistribution(new Float32Array([0.2, 0.7, 1, 0]), 2)).toBe(false);
    expect(isDistribution(new Float32Array([-0.5, 1.5]), 2)).toBe(false);
    expect(isDistribution(new Float32Array([1, 1]), 1)).toBe(false);
    const p = soften(new Float32Array([0.9, 0.1]), 2, 2);
    expect(p[0]).toBeCloseTo(3 / 4, 6); // √0.9 : √0.1 = 3 : 1
  });
});

describe('the teacher in the plan', () => {
  const dir = tempDir();
  writeText(join(dir, 'package.json'), '{}');
  // 16 label-free samples of MNIST's shape.
  const x = new Float32Array(16 * 784).map((_, i) => (i % 7) / 7);
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (16, 784), }";
  const padded = header + ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = 1;
  head.writeUInt16LE(padded.length, 8);
  writeFileSync(join(dir, 'x.npy'), Buffer.concat([head, Buffer.from(padded, 'latin1'), Buffer.from(x.buffer)]));
  const recipe = (name: string, passes: string, opts: { train?: string; seed?: number } = {}) =>
    writeText(
      join(dir, `${name}.yaml`),
      tinyRecipe({ passes, output: `./out-${name}` })
        .replace('seed: 7', `seed: ${opts.seed ?? 7}`)
        .replace('\ndata:\n', `\ndata:\n  train: ${opts.train ?? '{ dataset: mnist, split: train, limit: 64 }'}\n`),
    );
  const plan = async (file: string) => (await planBuild(file, { cacheDir: join(dir, 'cache'), backend: 'wasm' })).plan;
  const step = async (file: string, id: string) => (await plan(file)).steps.find((s) => s.id === id)!;
  const chain = (finetune: string) =>
    `  - quantize: { dtype: float16 }\n  - prune: { sparsity: 0.5 }\n  - finetune: ${finetune}`;

  it('a labelled finetune without teacher reads no earlier model', async () => {
    const s = await step(recipe('plain', chain('{}')), 'pass-3-finetune');
    expect(s.inputs).toEqual(['pass-2-prune']);
    expect(s.keyInputs.options).not.toHaveProperty('teacher');
  });

  it("the teacher's key is in the step key: baseline, previous and a changed baseline all differ", async () => {
    const baseline = await step(recipe('baseline', chain('{ teacher: baseline }')), 'pass-3-finetune');
    expect(baseline.inputs).toEqual(['pass-2-prune', 'baseline']);
    expect((baseline.keyInputs.inputs as string[]).length).toBe(2);
    const previous = await step(recipe('previous', chain('{ teacher: previous }')), 'pass-3-finetune');
    expect(previous.inputs).toEqual(['pass-2-prune', 'pass-1-quantize']);
    expect(previous.key).not.toBe(baseline.key);
    // The same model named another way is the same step.
    expect((await step(recipe('index', chain('{ teacher: quantize }')), 'pass-3-finetune')).key).toBe(previous.key);
    const other = await step(recipe('seed', chain('{ teacher: baseline }'), { seed: 8 }), 'pass-3-finetune');
    expect(other.key).not.toBe(baseline.key);
  });

  it('label-free data.train: finetune and scheduled prune learn from the baseline by default', async () => {
    const train = '{ dataset: npy, x: ./x.npy }';
    const p = await plan(
      recipe(
        'free',
        '  - prune: { sparsity: 0.5, schedule: { steps: 2 } }\n  - quantize: { dtype: float16 }\n  - finetune: {}',
        { train },
      ),
    );
    const pr = p.steps.find((s) => s.id === 'pass-1-prune')!;
    const ft = p.steps.find((s) => s.id === 'pass-3-finetune')!;
    expect(pr.keyInputs.options).toMatchObject({ teacher: 'baseline', teacherWeight: 1 });
    expect(ft.keyInputs.options).toMatchObject({ teacher: 'baseline', teacherWeight: 1, temperature: 2 });
    expect(ft.inputs).toEqual(['pass-2-quantize', 'baseline']);
    // Mixing labels in needs labels: refused at planning, with the way out.
    await expect(plan(recipe('mixed', '  - finetune: { teacherWeight: 0.5 }', { train }))).rejects.toThrow(
      /the finetune pass at .*mixed\.yaml:\d+:\d+ trains on the labels of data\.train .* has none\. .*or remove `teacherWeight`/,
    );
  });

  it('a teacher that is no earlier model is exit 2, naming the recipe line', async () => {
    const file = recipe('bad', chain('{ teacher: finetun }'));
    const r = await runCli(['plan', file, '--cache-dir', join(dir, 'cache')]);
    expect(r.code, r.all).toBe(2);
    expect(r.stderr).toMatch(
      /`passes\[2\]\.finetune\.teacher` names "finetun", which is no earlier entry of `passes`, at .*bad\.yaml:\d+:\d+/,
    );
  });
});

describe('learning from a teacher on data without labels', () => {
  beforeAll(async () => {
    await loadEngine('wasm');
  });

  /** 256 samples of 8 features, no `y`: what the pass trains on. */
  function unlabelled(): Dataset {
    const x = new Float32Array(256 * 8).map((_, i) => Math.sin(i * 12.9898) * 0.5 + (i % 3) * 0.1);
    return { name: 'features', x, count: 256, inputShape: [8] };
  }

  async function model(activation: 'softmax' | 'linear', seed: number): Promise<StoredModel> {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [8],
          units: 16,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed }),
          name: 'fc_1',
        }),
        tf.layers.dense({
          units: 4,
          activation,
          kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
          name: 'out',
        }),
      ],
    });
    const stored = await fromLayersModel(tf, m);
    m.dispose();
    return stored;
  }

  async function distance(a: StoredModel, b: StoredModel, ds: Dataset): Promise<number> {
    const [ma, mb] = [await toLayersModel(tf, a), await toLayersModel(tf, b)];
    const d = tf.tidy(() => {
      const x = tf.tensor(ds.x, [ds.count, 8]);
      return tf.mean(tf.squaredDifference(ma.predict(x) as tf.Tensor, mb.predict(x) as tf.Tensor)).dataSync()[0]!;
    });
    ma.dispose();
    mb.dispose();
    return d;
  }

  it('scheduled prune without labels learns from its teacher while it prunes: closer to it than one-shot', async () => {
    const ds = unlabelled();
    const teacher = await model('softmax', 1);
    const ctx: PassContext = {
      engine: () => loadEngine('wasm'),
      data: () => Promise.resolve(ds),
      model: (name) => (name === 'teacher' ? Promise.resolve(teacher) : Promise.reject(new Error(name))),
      signal: new AbortController().signal,
      progress: () => {},
    };
    const pruneAt = place(0, 'prune');
    const scheduled = prune.resolveOptions(
      { sparsity: 0.75, schedule: { steps: 60, frequency: 10 }, learningRate: 0.01, batchSize: 32 },
      pruneAt,
      input(0, ['prune'], false),
    );
    expect(scheduled).toMatchObject({ teacher: 'baseline', teacherWeight: 1 });
    const tensors = tf.memory().numTensors;
    const out = await prune.apply(teacher, scheduled, ctx);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(out.stats.schedule).toMatchObject({
      steps: 60,
      teacher: { model: 'baseline', loss: 'kl', forwardSamples: 256 },
    });
    expect(out.stats.overall).toMatchObject({ sparsity: expect.closeTo(0.75, 2) as unknown });
    const oneShot = await prune.apply(teacher, prune.resolveOptions({ sparsity: 0.75 }, pruneAt), ctx);
    expect(await distance(out.model, teacher, ds)).toBeLessThan((await distance(oneShot.model, teacher, ds)) / 2);
  });

  for (const [activation, loss] of [
    ['softmax', 'kl'],
    ['linear', 'mse'],
  ] as const) {
    it(`a ${activation} teacher: the ${loss} term pulls the student towards it, without leaks`, async () => {
      const ds = unlabelled();
      const teacher = await model(activation, 1);
      const student = await model(activation, 11);
      const ctx: PassContext = {
        engine: () => loadEngine('wasm'),
        data: () => Promise.resolve(ds),
        model: (name) => (name === 'teacher' ? Promise.resolve(teacher) : Promise.reject(new Error(name))),
        signal: new AbortController().signal,
        progress: () => {},
      };
      const options = {
        ...finetune.resolveOptions({ epochs: 20, learningRate: 0.01, batchSize: 32 }, place(1, 'finetune')),
        teacher: 'baseline' as const,
        teacherWeight: 1,
        temperature: 2,
      };
      const tensors = tf.memory().numTensors;
      const out = await finetune.apply(student, options, ctx);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(out.stats.teacher).toEqual({
        model: 'baseline',
        loss,
        weight: 1,
        ...(loss === 'kl' ? { temperature: 2 } : {}),
        forwardSamples: 256,
      });
      const before = await distance(student, teacher, ds);
      const after = await distance(out.model, teacher, ds);
      expect(after).toBeLessThan(before / 2);
    });
  }
});
