/**
 * Building a fixture through mcbuild (test/fixtures/models/npy.ts, build-fixture.ts, load.ts), what
 * test/e2e/fixture-matrix.test.ts and bench/fixture-passes.ts share: label-free samples NumPy would read, a
 * recipe whose build gives a report or an error with its position, and the output loaded the way a user's page
 * loads it (stock TF.js, or mcbuild/runtime's IOHandler for packed weights) and run.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNpy } from '../src/data/npy.js';
import { loadEngine } from '../src/engine/runtime.js';
import { buildFixture, fidelityCell, weightBytes, writeFixtureRecipe } from './fixtures/models/build-fixture.js';
import { embeddingGraph } from './fixtures/models/index.js';
import { loadOutput, runOneBatch } from './fixtures/models/load.js';
import { sampleNpy } from './fixtures/models/npy.js';
import { tempDir } from './helpers.js';

const work = tempDir('mcbuild-fixtures-build-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await loadEngine('wasm');
});

describe('label-free samples', () => {
  it('float inputs: seeded values in [-1, 1), a free dimension taken as 1', () => {
    const bytes = sampleNpy({ name: 'x', shape: [-1, 4, -1, 3], dtype: 'float32' }, 5, 7);
    const a = parseNpy(bytes, 'x.npy');
    expect([a.descr, a.shape]).toEqual(['<f4', [5, 4, 1, 3]]);
    const v = new Float32Array(a.data.slice().buffer);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...v)).toBeLessThan(1);
    expect(Math.max(...v) - Math.min(...v)).toBeGreaterThan(1);
    expect(sampleNpy({ name: 'x', shape: [-1, 4, -1, 3], dtype: 'float32' }, 5, 7)).toEqual(bytes);
    expect(sampleNpy({ name: 'x', shape: [-1, 4, -1, 3], dtype: 'float32' }, 5, 8)).not.toEqual(bytes);
  });

  it('int32 and uint8 inputs: integers 0..255 stored as int32, as TF.js takes them', () => {
    for (const dtype of ['int32', 'uint8'] as const) {
      const a = parseNpy(sampleNpy({ name: 'image', shape: [1, 8, 8, 3], dtype }, 2), 'x.npy');
      expect([a.descr, a.shape]).toEqual(['<i4', [2, 8, 8, 3]]);
      const v = new Int32Array(a.data.slice().buffer);
      expect(v.every((x) => x >= 0 && x <= 255)).toBe(true);
      expect(new Set(v).size).toBeGreaterThan(100);
    }
  });
});

describe('a fixture built and loaded', () => {
  const build = async (name: string, passes: string[]) => {
    const f = await embeddingGraph();
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    return { f, r: await buildFixture(writeFixtureRecipe(dir, f, { name, passes, output: './out' }), join(work, 'c')) };
  };

  it('float16: the report gives bytes and fidelity; stock TF.js loads the folder and runs it', async () => {
    const { f, r } = await build('half', ['quantize: { dtype: float16 }']);
    if ('error' in r) throw new Error(r.error);
    expect(r.code).toBe(0);
    const bytes = weightBytes(r.report);
    expect(bytes.source).toBe(f.weightBytes);
    expect(bytes.output).toBeLessThan(0.51 * bytes.source);
    expect(fidelityCell(r.report.metrics.result.fidelity!)).toMatch(/^cos (0\.99\d\d|1\.0000), max rel \d\.\d\de-\d$/);
    const { model, via } = await loadOutput(tf, r.out, f.format);
    expect(via).toBe('stock');
    expect(await runOneBatch(tf, model, f)).toEqual([[1, 128]]);
    model.dispose();
  });

  it('int8 per-channel: packed weights load through mcbuild/runtime', async () => {
    const { f, r } = await build('int8', ['quantize: { dtype: int8, granularity: per-channel }']);
    if ('error' in r) throw new Error(r.error);
    const { model, via } = await loadOutput(tf, r.out, f.format);
    expect(via).toBe('mcbuild/runtime');
    expect(await runOneBatch(tf, model, f)).toEqual([[1, 128]]);
    model.dispose();
  });

  it('a refused pass comes back as exit 2 and its message, with the recipe position', async () => {
    // A graph model cannot be trained in TF.js: finetune refuses it.
    const { r } = await build('refused', ['finetune: { epochs: 1 }']);
    expect(r.code).toBe(2);
    expect('error' in r && r.error).toMatch(/finetune pass at .*refused\.yaml:7:\d+ works on layers models/);
  });
});

describe('fidelity cells', () => {
  it('distances for every output, classifier figures where there are some', () => {
    expect(fidelityCell({ cosine: 0.98765, maxRelError: 0.0123, meanRelError: 0.001 })).toBe(
      'cos 0.9877, max rel 1.23e-2',
    );
    expect(fidelityCell({ maxRelError: 0, agreement: 0.75, meanKl: 0.0021 })).toBe(
      'max rel 0.00e+0, agree 75%, KL 2.10e-3',
    );
  });
});
