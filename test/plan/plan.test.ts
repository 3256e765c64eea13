import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherPlanInputs, plan, type Plan } from '../../src/plan/index.js';
import { loadRecipe } from '../../src/language/index.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
let n = 0;
async function planOf(text: string, backend?: 'wasm' | 'cpu'): Promise<Plan> {
  const recipe = await loadRecipe(writeText(join(dir, `p${n++}.yaml`), text));
  return plan(recipe, await gatherPlanInputs(recipe, backend ? { backend } : {}));
}
const keys = (p: Plan) => Object.fromEntries(p.steps.map((s) => [s.id, s.key]));

describe('plan', () => {
  it('builds the DAG source → eval, source → passes → eval', async () => {
    const p = await planOf(tinyRecipe({ passes: '  - quantize: { dtype: float16 }\n  - quantize: { dtype: uint8 }' }));
    expect(p.steps.map((s) => [s.id, s.inputs])).toEqual([
      ['baseline', []],
      ['eval-baseline', ['baseline']],
      ['pass-1-quantize', ['baseline']],
      ['pass-2-quantize', ['pass-1-quantize']],
      ['eval-result', ['pass-2-quantize', 'eval-baseline']], // fidelity compares with the baseline's outputs
    ]);
    expect(p.finalModel).toBe('pass-2-quantize');
  });

  it('gives the same keys for the same recipe, however it is formatted', async () => {
    const a = await planOf(tinyRecipe());
    const b = await planOf(tinyRecipe());
    const reordered = await planOf(
      tinyRecipe().replace(
        'eval: { dataset: mnist, split: test, limit: 300 }',
        'eval:\n    limit: 300\n    split: test\n    dataset: mnist',
      ),
    );
    expect(keys(b)).toEqual(keys(a));
    expect(keys(reordered)).toEqual(keys(a));
  });

  it('a pass option changes that pass and everything after it, nothing before', async () => {
    const a = keys(await planOf(tinyRecipe()));
    const b = keys(await planOf(tinyRecipe({ passes: '  - quantize: { dtype: uint16 }' })));
    expect(b.baseline).toBe(a.baseline);
    expect(b['eval-baseline']).toBe(a['eval-baseline']);
    expect(b['pass-1-quantize']).not.toBe(a['pass-1-quantize']);
    expect(b['eval-result']).not.toBe(a['eval-result']);
  });

  it('an equivalent spelling of an option keeps the key (defaults are filled before hashing)', async () => {
    const a = keys(await planOf(tinyRecipe({ passes: '  - quantize: { bits: 8 }' })));
    const b = keys(await planOf(tinyRecipe({ passes: '  - quantize: { dtype: uint8, granularity: per-tensor }' })));
    const c = keys(await planOf(tinyRecipe({ passes: '  - quantize: {}' })));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('thresholds and the output path are in no key', async () => {
    const a = keys(await planOf(tinyRecipe()));
    const b = keys(
      await planOf(
        tinyRecipe({ thresholds: '  accuracy: { min: 0.99 }\n  size: { maxBytes: 1kB }', output: './elsewhere' }),
      ),
    );
    expect(b).toEqual(a);
  });

  it('the eval slice changes only the eval steps', async () => {
    const a = keys(await planOf(tinyRecipe()));
    const b = keys(await planOf(tinyRecipe().replace('limit: 300', 'limit: 200')));
    expect(b.baseline).toBe(a.baseline);
    expect(b['pass-1-quantize']).toBe(a['pass-1-quantize']);
    expect(b['eval-baseline']).not.toBe(a['eval-baseline']);
    expect(b['eval-result']).not.toBe(a['eval-result']);
  });

  it('the training seed changes every step', async () => {
    const a = keys(await planOf(tinyRecipe()));
    const b = keys(await planOf(tinyRecipe().replace('seed: 7', 'seed: 8')));
    for (const id of Object.keys(a)) expect(b[id]).not.toBe(a[id]);
  });

  it('the backend is in the key of steps whose numbers depend on it, and recorded in their key inputs', async () => {
    const wasm = await planOf(tinyRecipe(), 'wasm');
    const cpu = await planOf(tinyRecipe(), 'cpu');
    expect(wasm.backend).toBe('wasm');
    expect(cpu.steps[0]!.key).not.toBe(wasm.steps[0]!.key);
    expect(wasm.steps[0]!.keyInputs).toMatchObject({
      backend: 'wasm',
      packages: { '@tensorflow/tfjs-backend-wasm': '4.22.0' },
    });
    expect(wasm.steps.find((s) => s.id === 'pass-1-quantize')!.keyInputs).not.toHaveProperty('backend');
  });

  it('a model file is keyed by its content', async () => {
    const m = join(dir, 'model');
    writeText(
      join(m, 'model.json'),
      JSON.stringify({
        modelTopology: {},
        weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }],
      }),
    );
    writeFileSync(join(m, 'w.bin'), Buffer.alloc(8));
    const a = await planOf(tinyRecipe({ model: `  path: ${m}/model.json` }));
    writeFileSync(join(m, 'w.bin'), Buffer.from([0, 0, 0, 0, 0, 0, 128, 63]));
    const b = await planOf(tinyRecipe({ model: `  path: ${m}/model.json` }));
    expect(a.steps[0]!.keyInputs.modelDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(b.steps[0]!.key).not.toBe(a.steps[0]!.key);
  });

  it('planning loads no TF.js module', () => {
    const recipe = writeText(join(dir, 'notf.yaml'), tinyRecipe());
    const script = `import('${join(ROOT, 'dist/src/pipeline/index.js')}').then(async (m) => {
      await m.planBuild(${JSON.stringify(recipe)}, { cacheDir: ${JSON.stringify(join(dir, 'cache'))} });
      const loaded = Object.keys(require.cache).filter((k) => k.includes('@tensorflow'));
      process.stdout.write(JSON.stringify(loaded));
    })`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script]).toString()) as string[];
    expect(loaded).toEqual([]);
    // The check is real: loading the engine does show up in the same list.
    const control = execFileSync(
      process.execPath,
      [
        '-e',
        `import('@tensorflow/tfjs').then(() => process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('@tensorflow')))))`,
      ],
      { cwd: ROOT },
    ).toString();
    expect(control).toBe('true');
  });
});

describe('runtime.latency', () => {
  it('is in the eval steps’ keys only when set, and changes only them', async () => {
    const plain = await planOf(tinyRecipe());
    const timed = await planOf(tinyRecipe({ extra: 'runtime: { latency: { batchSizes: [1, 8], runs: 20 } }\n' }));
    for (const s of plain.steps) {
      const other = timed.steps.find((t) => t.id === s.id)!;
      if (s.spec.kind === 'eval') {
        expect(other.key).not.toBe(s.key);
        expect(other.keyInputs.latency).toEqual({ batchSizes: [1, 8], runs: 20 });
        expect(s.keyInputs.latency).toBeUndefined();
      } else {
        expect(other.key).toBe(s.key);
      }
    }
  });
});
