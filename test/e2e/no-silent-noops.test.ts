/**
 * Issue 19, points 1 and 3, through the built CLI on real models made here with TF.js: a pass asked to change
 * weights that changes none exits 2 naming its recipe line (at planning when the planner can see it, else when
 * the step runs); fold-batchnorm on a model without batch norm warns and records it; a source stored uint8 as
 * tensorflowjs_converter writes it does not come out bigger after prune, cluster or float16, and its
 * unchanged tensors keep their bytes; in a matrix an empty variant is reported and the sweep goes on.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromLayersModel } from '../../src/engine/runtime.js';
import { MODEL_JSON, modelToFiles, readModelDir, type StoredModel } from '../../src/model/index.js';
import type { Report, Sweep } from '../../src/report/index.js';
import { runCli, stackLines, tempDir, writeText } from '../helpers.js';
import { converterQuantized } from '../quantized-source.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const run = (args: string[]) => runCli([...args, '--cache-dir', cacheDir, '--backend', 'cpu'], { cwd: dir });

function save(model: StoredModel, name: string): void {
  mkdirSync(join(dir, name), { recursive: true });
  for (const [file, bytes] of modelToFiles(model)) writeFileSync(join(dir, name, file), bytes);
}

let source: StoredModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flat' }),
      tf.layers.dense({
        units: 48,
        activation: 'relu',
        name: 'fc1',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
      tf.layers.dense({
        units: 10,
        activation: 'softmax',
        name: 'predictions',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      }),
    ],
  });
  const float = await fromLayersModel(tf, m);
  m.dispose();
  source = converterQuantized(float);
  save(float, 'float');
  save(source, 'uint8');
});

/** A recipe on the model in `model`, with these passes (YAML lines) and extra top-level YAML. */
function recipe(name: string, model: string, passes: string, extra = ''): { file: string; text: string } {
  const text = `version: 1
name: ${name}
model:
  path: ./${model}/model.json
data:
  eval: { dataset: mnist, split: test, limit: 64 }
passes:
${passes}
output: ./out-${name}
${extra}`;
  return { file: writeText(join(dir, `${name}.yaml`), text), text };
}

/** "name.yaml:line:col" of the options of the first entry of `pass` in the recipe, as errors name it. */
function where(r: { file: string; text: string }, pass: string): string {
  const lines = r.text.split('\n');
  const line = lines.findIndex((l) => l.includes(`- ${pass}:`));
  return `${basename(r.file)}:${line + 1}:${lines[line]!.indexOf('{') + 1}`;
}

const report = (name: string) => JSON.parse(readFileSync(join(dir, `out-${name}`, 'report.json'), 'utf8')) as Report;

describe('a pass that changes nothing', () => {
  it('quantize whose overrides skip every layer fails at planning, exit 2, at its line', async () => {
    const r = recipe(
      'skip-all',
      'float',
      '  - quantize: { dtype: int8 }',
      'overrides:\n  - layers: ["re:.*"]\n    quantize: skip\n',
    );
    const out = await run([r.file]);
    expect(out.code, out.all).toBe(2);
    expect(stackLines(out.stderr)).toEqual([]);
    expect(out.stderr).toMatch(/^mcbuild: error MCB_RECIPE_INVALID: /);
    expect(out.stderr).toContain(`the quantize pass at ${where(r, 'quantize')}`);
    expect(out.stderr).toMatch(/would change nothing: overrides\[0\] at .*skips every layer/);
  });

  it('quantize whose overrides skip every weight-bearing layer fails when it runs, exit 2, at its line', async () => {
    const r = recipe(
      'skip-kernels',
      'float',
      '  - quantize: { dtype: int8 }',
      'overrides:\n  - layers: [fc1, predictions]\n    quantize: skip\n',
    );
    const out = await run([r.file]);
    expect(out.code, out.all).toBe(2);
    expect(stackLines(out.stderr)).toEqual([]);
    expect(out.stderr).toContain(`the quantize pass at ${where(r, 'quantize')} changed no weight`);
    expect(out.stderr).toMatch(/override blocks skip 2 of its input's \d+ layers \("fc1", "predictions"\)/);
    expect(out.stderr).toMatch(/weightsQuantized 0/);
  });

  it('fold-batchnorm on a model without batch norm warns, and the report records it', async () => {
    const r = recipe('fold', 'float', '  - fold-batchnorm: {}');
    const out = await run([r.file]);
    expect(out.code, out.all).toBe(0);
    const warning = `the fold-batchnorm pass at ${where(r, 'fold-batchnorm')} changed nothing: no BatchNormalization`;
    expect(out.stderr).toContain(`warning: ${warning}`);
    const rep = report('fold');
    expect(rep.warnings?.some((w) => w.startsWith(warning))).toBe(true);
    expect(rep.passes[0]!.changed).toMatchObject({ tensors: 0, params: 0, totalTensors: 4 });
    // A second, fully cached build warns the same.
    const again = await run([r.file]);
    expect(again.stderr).toContain(`warning: ${warning}`);
  });
});

describe('a source stored uint8', () => {
  const bytesOf = (m: StoredModel, name: string): Uint8Array => {
    let off = 0;
    for (const s of m.weightSpecs) {
      const n = s.shape.reduce((a, b) => a * b, 1) * (s.quantization ? (s.quantization.dtype === 'uint8' ? 1 : 2) : 4);
      if (s.name === name) return m.weightData.subarray(off, off + n);
      off += n;
    }
    throw new Error(`no weight ${name}`);
  };

  it('comes out no bigger after prune and cluster; unchanged tensors keep their bytes', async () => {
    for (const [name, pass] of [
      ['prune', '  - prune: { sparsity: 0.5 }'],
      ['cluster', '  - cluster: { bits: 4 }'],
    ] as const) {
      const out = await run([recipe(name, 'uint8', pass).file]);
      expect(out.code, out.all).toBe(0);
      const rep = report(name);
      expect(rep.size!.outputBytes).toBeLessThanOrEqual(rep.size!.sourceBytes + 200); // model.json gains a few fields
      expect(rep.size!.float32Bytes).toBeGreaterThan(3 * rep.size!.sourceBytes);
      expect(rep.warnings ?? []).toEqual([]);
      const { model } = await readModelDir(join(dir, `out-${name}`, MODEL_JSON));
      for (const s of model.weightSpecs) expect(s.quantization?.dtype, s.name).toBe('uint8');
      // Biases are neither pruned nor clustered: the very bytes of the source.
      for (const bias of ['fc1/bias', 'predictions/bias'])
        expect(Buffer.from(bytesOf(model, bias)).equals(bytesOf(source, bias)), bias).toBe(true);
      expect((rep.passes[0]!.changed as { tensors: number }).tensors).toBe(2);
      expect(out.stdout).toMatch(new RegExp(`pass-1-${name}\\s+2/4 tensors`));
    }
  });

  it('quantize float16 changes nothing (every tensor is stored smaller already): exit 2 with why', async () => {
    const r = recipe('fp16', 'uint8', '  - quantize: { dtype: float16 }');
    const out = await run([r.file]);
    expect(out.code, out.all).toBe(2);
    expect(out.stderr).toContain(`the quantize pass at ${where(r, 'quantize')} changed no weight`);
    expect(out.stderr).toMatch(
      /4 weights it re-wrote are already stored by the source in a form as small or smaller \(uint8\)/,
    );
  });

  it('an output bigger than its source warns and names the pass that grew it', async () => {
    const out = await run([
      recipe('perchannel', 'uint8', '  - quantize: { dtype: int8, granularity: per-channel }').file,
    ]);
    expect(out.code, out.all).toBe(0);
    const rep = report('perchannel');
    if (rep.size!.outputBytes > rep.size!.sourceBytes) {
      expect(out.stderr).toMatch(
        /warning: the output's weights \(.*\) are bigger than the source model's \(.*\); grown by pass-1-quantize/,
      );
      expect(rep.warnings!.some((w) => w.includes('bigger than the source'))).toBe(true);
    } else expect(rep.warnings ?? []).toEqual([]);
    expect(readFileSync(join(dir, 'out-perchannel', MODEL_JSON), 'utf8')).toContain('int8');
  });

  it('in a matrix, the variant whose pass is empty is reported and the sweep goes on', async () => {
    const r = recipe(
      'sweep',
      'uint8',
      '  - quantize: { dtype: "${{ matrix.dtype }}" }',
      'matrix:\n  dtype: [int8, float16]\ngate: best\n',
    );
    const out = await run([r.file, '--reporter', 'junit=sweep.xml']);
    expect(out.code, out.all).toBe(0); // gate: best, and the int8 variant passes (no thresholds)
    const sweep = JSON.parse(readFileSync(join(dir, 'out-sweep', 'sweep.json'), 'utf8')) as Sweep;
    const [int8, fp16] = sweep.variants;
    expect(int8).toMatchObject({ verdict: 'pass' });
    expect(fp16).toMatchObject({ verdict: 'fail' });
    expect(fp16!.error).toContain('changed no weight');
    expect(fp16!.sizeBytes).toBeUndefined();
    expect(out.stdout).toMatch(/dtype=float16: the quantize pass at .* changed no weight/);
    // The CI reports show it too: a JUnit suite with an <error>, a failed row on the sweep's page.
    const xml = readFileSync(join(dir, 'sweep.xml'), 'utf8');
    expect(xml).toMatch(/<testsuites name="mcbuild" tests="\d+" failures="0" errors="1"/);
    expect(xml).toMatch(
      /<testsuite name="sweep \[dtype=float16\]" tests="1" failures="0" errors="1"[^]*<error message="the quantize pass at [^"]*changed no weight/,
    );
    const html = readFileSync(join(dir, 'out-sweep', 'report.html'), 'utf8');
    expect(html).toMatch(
      /<th scope="row">sweep dtype=float16<\/th><td class="fail">✘ FAIL<\/td><td>the quantize pass at .*changed no weight/,
    );
  });
});
