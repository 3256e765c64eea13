/**
 * Models of any input and output kind, end to end through the built CLI: a layers model with three heads (an
 * embedding, a one-wide score, class probabilities) and one with an int32 input (token ids into an
 * Embedding), both on label-free .npy data. Every output is measured and compared with the baseline, per
 * output and at its worst; fidelity limits gate them by name; mistakes with the model's inputs and outputs
 * are refused at planning (exit 2, the recipe line) before anything runs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromLayersModel, loadEngine } from '../../src/engine/runtime.js';
import { modelToFiles } from '../../src/model/index.js';
import type { Report } from '../../src/report/index.js';
import { npyBytes, runCli, stackLines, tempDir, writeText } from '../helpers.js';

const SAMPLES = 64;
const work = tempDir('mcbuild-any-model-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

async function save(model: tf.LayersModel, dir: string): Promise<void> {
  mkdirSync(join(work, dir), { recursive: true });
  for (const [name, bytes] of modelToFiles(await fromLayersModel(tf, model)))
    writeFileSync(join(work, dir, name), bytes);
  model.dispose();
}

beforeAll(async () => {
  await loadEngine('wasm');
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const x = tf.input({ shape: [12], name: 'features' });
  const trunk = tf.layers
    .dense({ units: 32, activation: 'relu', name: 'trunk', kernelInitializer: init(1) })
    .apply(x) as tf.SymbolicTensor;
  const heads = [
    tf.layers.dense({ units: 16, name: 'embedding', kernelInitializer: init(2) }),
    tf.layers.dense({ units: 1, name: 'score', kernelInitializer: init(3) }),
    tf.layers.dense({ units: 5, activation: 'softmax', name: 'probs', kernelInitializer: init(4) }),
  ].map((l) => l.apply(trunk) as tf.SymbolicTensor);
  await save(tf.model({ inputs: x, outputs: heads }), 'heads');
  const ids = tf.input({ shape: [6], dtype: 'int32', name: 'tokens' });
  const embedded = tf.layers
    .embedding({
      inputDim: 20,
      outputDim: 8,
      name: 'lookup',
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 5 }),
    })
    .apply(ids) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(embedded) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 3, activation: 'softmax', name: 'intent', kernelInitializer: init(6) })
    .apply(flat) as tf.SymbolicTensor;
  await save(tf.model({ inputs: ids, outputs: out }), 'tokens');
  const r = random(7);
  writeFileSync(
    join(work, 'features.npy'),
    npyBytes(
      '<f4',
      [SAMPLES, 12],
      Float32Array.from({ length: SAMPLES * 12 }, () => r() * 2 - 1),
    ),
  );
  writeFileSync(join(work, 'narrow.npy'), npyBytes('<f4', [SAMPLES, 10], new Float32Array(SAMPLES * 10)));
  writeFileSync(
    join(work, 'tokens.npy'),
    npyBytes(
      '<i4',
      [SAMPLES, 6],
      Int32Array.from({ length: SAMPLES * 6 }, () => Math.floor(r() * 20)),
    ),
  );
}, 60_000);

const recipe = (o: {
  model?: string;
  data?: string;
  passes?: string;
  thresholds: string;
  output?: string;
}) => `version: 1
name: any-model
model:
${o.model ?? '  path: ./heads/model.json'}
data:
${o.data ?? '  eval: { dataset: npy, x: ./features.npy }'}
passes:
${o.passes ?? '  - quantize: { dtype: int8, granularity: per-channel }'}
thresholds:
${o.thresholds}
output: ${o.output ?? './out'}
`;
const build = (file: string, ...args: string[]) => runCli(['build', file, '--backend', 'wasm', ...args], { cwd: work });
const report = (out: string) => JSON.parse(readFileSync(join(work, out, 'report.json'), 'utf8')) as Report;

describe('models of any output kind, through the CLI', () => {
  it('measures every output: distances for all, classifier figures only for the distribution, gated per output', async () => {
    writeText(
      join(work, 'heads.yaml'),
      recipe({
        thresholds: `  fidelity:
    minCosine: 0.95
    maxRelError: 0.5
    outputs:
      probs: { minAgreement: 0.8, maxMeanKl: 0.05 }
      score: { maxRelError: 0.2 }`,
        output: './out-heads',
      }),
    );
    const run = await build('heads.yaml');
    expect(run.code, run.all).toBe(0);
    expect(run.all).toMatch(/PASS\s+fidelity\.outputs\.score\.maxRelError/);
    const r = report('out-heads');
    expect(r.metrics.baseline.outputs).toEqual([
      { name: 'embedding', width: 16 },
      { name: 'score', width: 1 },
      { name: 'probs', width: 5 },
    ]);
    const f = r.metrics.result.fidelity!;
    const by = Object.fromEntries(f.outputs!.map((o) => [o.name, o]));
    expect(by.embedding).toMatchObject({ width: 16, distribution: false });
    expect(by.embedding!.agreement).toBeUndefined();
    expect(by.embedding!.cosine).toBeGreaterThan(0.99);
    expect(by.embedding!.cosine).toBeLessThan(1); // int8 weights did change it
    expect(by.score).toMatchObject({ width: 1, distribution: false });
    expect(by.score!.cosine).toBeUndefined();
    expect(by.score!.maxRelError).toBeGreaterThan(0);
    expect(by.probs).toMatchObject({ width: 5, distribution: true });
    expect(by.probs!.agreement).toBeGreaterThan(0.8);
    // At the top: the worst output's figure.
    expect(f.maxRelError).toBe(Math.max(...f.outputs!.map((o) => o.maxRelError)));
    expect(f.cosine).toBe(Math.min(by.embedding!.cosine!, by.probs!.cosine!));
    expect(f.agreement).toBe(by.probs!.agreement);
  }, 180_000);

  it('a limit one output misses fails the build (exit 1) naming the output; model.outputs measures the ones named', async () => {
    writeText(
      join(work, 'tight.yaml'),
      recipe({
        thresholds: '  fidelity: { outputs: { embedding: { minCosine: 0.99999999 } } }',
        output: './out-tight',
      }),
    );
    const fail = await build('tight.yaml');
    expect(fail.code, fail.all).toBe(1);
    expect(fail.all).toMatch(
      /FAIL\s+fidelity\.outputs\.embedding\.minCosine.*output embedding: mean cosine to the baseline is 0\.9999\d+; minimum 0\.99999999/,
    );
    writeText(
      join(work, 'chosen.yaml'),
      recipe({
        model: '  path: ./heads/model.json\n  outputs: [probs, embedding]',
        thresholds: '  fidelity: { minAgreement: 0.5 }',
        output: './out-chosen',
      }),
    );
    const chosen = await build('chosen.yaml');
    expect(chosen.code, chosen.all).toBe(0);
    expect(report('out-chosen').metrics.result.fidelity!.outputs!.map((o) => o.name)).toEqual(['probs', 'embedding']);
  }, 180_000);

  it('an output chosen by name is still measured when a pass renames it (lowrank splits an output Dense)', async () => {
    writeText(
      join(work, 'renamed.yaml'),
      recipe({
        model: '  path: ./heads/model.json\n  outputs: [embedding]',
        passes: '  - lowrank: { ratio: 0.5, layers: [embedding] }',
        thresholds: '  fidelity: { minCosine: 0.5 }',
        output: './out-renamed',
      }),
    );
    const run = await build('renamed.yaml');
    expect(run.code, run.all).toBe(0);
    const r = report('out-renamed');
    // The source's output `embedding` is the result's output at the same position, under its new name.
    expect(r.metrics.baseline.outputs).toEqual([{ name: 'embedding', width: 16 }]);
    expect(r.metrics.result.outputs).toHaveLength(1);
    expect(r.metrics.result.outputs![0]!.name).not.toBe('embedding');
    expect(r.metrics.result.outputs![0]!.width).toBe(16);
    expect(r.metrics.result.fidelity!.cosine).toBeLessThan(1);
  }, 180_000);

  it('an int32 input is fed token ids as int32 (an Embedding lookup), unnormalised', async () => {
    writeText(
      join(work, 'tokens.yaml'),
      recipe({
        model: '  path: ./tokens/model.json',
        data: '  eval: { dataset: npy, x: ./tokens.npy }',
        passes: '  - quantize: { dtype: float16 }',
        thresholds: '  fidelity: { minAgreement: 0.9, minCosine: 0.999 }',
        output: './out-tokens',
      }),
    );
    const run = await build('tokens.yaml');
    expect(run.code, run.all).toBe(0);
    const r = report('out-tokens');
    expect(r.metrics.result.fidelity!.outputs).toEqual([
      expect.objectContaining({ name: 'intent', width: 3, distribution: true }),
    ]);
  }, 180_000);

  it('label-free finetune after pruning learns every head from the baseline: each output gets closer to it', async () => {
    const pruneThen = (passes: string, output: string) =>
      recipe({
        data: '  eval: { dataset: npy, x: ./features.npy }\n  train: { dataset: npy, x: ./features.npy }',
        passes: `  - prune: { sparsity: 0.5 }${passes}`,
        thresholds: '  fidelity: { minCosine: 0.1 }',
        output,
      });
    writeText(join(work, 'pruned.yaml'), pruneThen('', './out-pruned'));
    writeText(
      join(work, 'recovered.yaml'),
      pruneThen('\n  - finetune: { epochs: 20, batchSize: 16, learningRate: 0.005 }', './out-recovered'),
    );
    for (const file of ['pruned.yaml', 'recovered.yaml']) {
      const run = await build(file);
      expect(run.code, run.all).toBe(0);
    }
    const by = (out: string) =>
      Object.fromEntries(report(out).metrics.result.fidelity!.outputs!.map((o) => [o.name, o]));
    const [pruned, recovered] = [by('out-pruned'), by('out-recovered')];
    // Pruned alone: cosine 0.88, mean relative error 0.11, KL 0.010; recovered: 0.96, 0.02, 0.005 (wasm).
    expect(1 - recovered.embedding!.cosine!).toBeLessThan((1 - pruned.embedding!.cosine!) / 2);
    expect(recovered.score!.meanRelError).toBeLessThan(pruned.score!.meanRelError / 2);
    expect(recovered.probs!.meanKl).toBeLessThan(pruned.probs!.meanKl! / 1.5);
    const stats = (report('out-recovered') as unknown as { passes: { stats: { teacher?: unknown } }[] }).passes[1]!
      .stats;
    expect(stats.teacher).toMatchObject({
      model: 'baseline',
      loss: 'mixed',
      outputs: [
        { name: 'embedding', width: 16, loss: 'mse' },
        { name: 'score', width: 1, loss: 'mse' },
        { name: 'probs', width: 5, loss: 'kl' },
      ],
    });
  }, 180_000);
});

describe('mistakes with the model found at planning (exit 2, the recipe line, nothing run)', () => {
  const plan = async (name: string, text: string) => {
    writeText(join(work, name), text);
    const r = await runCli(['plan', name, '--backend', 'wasm'], { cwd: work });
    expect(r.code, r.all).toBe(2);
    expect(stackLines(r.all)).toEqual([]);
    return r.all;
  };

  it('data of the wrong shape, a normalisation for an integer input, an output that does not exist', async () => {
    expect(
      await plan(
        'narrow.yaml',
        recipe({ data: '  eval: { dataset: npy, x: ./narrow.npy }', thresholds: '  fidelity: { minCosine: 0.9 }' }),
      ),
    ).toMatch(
      /`data\.eval` at narrow\.yaml:6:\d+ gives samples of shape \[10\].*the model's input is features \[\?, 12\] float32/s,
    );
    expect(
      await plan(
        'scaled.yaml',
        recipe({
          model: '  path: ./tokens/model.json',
          data: '  eval: { dataset: npy, x: ./tokens.npy, scale: 0.05 }',
          thresholds: '  fidelity: { minAgreement: 0.9 }',
        }),
      ),
    ).toMatch(/sets a normalisation.*int32 inputs are fed the data's raw values.*Remove scale/s);
    expect(
      await plan(
        'nope.yaml',
        recipe({
          model: '  path: ./heads/model.json\n  outputs: [logits]',
          thresholds: '  fidelity: { minCosine: 0.9 }',
        }),
      ),
    ).toMatch(
      /`model\.outputs` at nope\.yaml:5:\d+ names "logits", which the model .* does not have; its outputs are embedding \[\?, 16\] float32, score \[\?, 1\] float32, probs \[\?, 5\] float32/s,
    );
  }, 60_000);

  it('a fidelity limit that cannot see a change, or names an output not measured', async () => {
    expect(
      await plan('blind.yaml', recipe({ thresholds: '  fidelity: { outputs: { score: { maxMeanKl: 0.1 } } }' })),
    ).toMatch(
      /`thresholds\.fidelity\.outputs\.score\.maxMeanKl` at blind\.yaml:\d+:\d+ cannot see a change: the output score is 1 wide.*Use maxMeanRelError or maxRelError/s,
    );
    expect(
      await plan('cos.yaml', recipe({ thresholds: '  fidelity: { outputs: { score: { minCosine: 0.9 } } }' })),
    ).toMatch(/cannot see a change.*a cosine of single values only tells a flipped sign/s);
    expect(
      await plan(
        'unmeasured.yaml',
        recipe({
          model: '  path: ./heads/model.json\n  outputs: [probs]',
          thresholds: '  fidelity: { outputs: { embedding: { minCosine: 0.9 } } }',
        }),
      ),
    ).toMatch(
      /`thresholds\.fidelity\.outputs\.embedding` at .* names an output that is not measured; the outputs measured are probs \(`model\.outputs` chooses them\)/s,
    );
  }, 60_000);
});
