/**
 * Multi-threaded wasm (src/engine/wasm-threads.ts): the pool really has the threads asked for, and every kernel
 * kind a build uses gives the same bytes at 1 thread (the single-threaded binary, as before) and at 2 and 4
 * (the threaded binary), so step keys need no thread count. A process starts the wasm module once, so each
 * count runs in its own child (test/engine/wasm-threads-child.mjs, against dist/: `npm run build` first).
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMcbError } from '../../src/errors.js';
import { MAX_WASM_THREADS, wasmThreadCount } from '../../src/engine/wasm-threads.js';
import { loadRecipe } from '../../src/language/index.js';
import { planRecipe } from '../../src/pipeline/plan.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHILD = join(ROOT, 'test', 'engine', 'wasm-threads-child.mjs');

function run(threads: number): Record<string, string | number> {
  const env = { ...process.env };
  delete env.MCBUILD_THREADS;
  const out = execFileSync(process.execPath, [CHILD, String(threads)], { cwd: ROOT, env, encoding: 'utf8' });
  return JSON.parse(out) as Record<string, string | number>;
}

describe('wasm threads', () => {
  it('gives bit-identical convolutions, matMuls, training, distillation, finetuning and predictions at 1, 2 and 4 threads', () => {
    const one = run(1);
    expect(one.threads).toBe(1);
    const { threads: _, workerParts: none, ...digests } = one;
    expect(none).toBe(0);
    expect(Object.keys(digests).length).toBeGreaterThanOrEqual(15);
    expect(one.batchNormIsWasmKernel).toBe('yes');
    for (const threads of [2, 4]) {
      const many = run(threads);
      // The pool came up with what was asked for, on any machine (2 cores here): not a silent fallback to 1.
      expect(many.threads).toBe(threads);
      // mcbuild's own kernels ran parts on the kernel team's worker threads.
      expect(many.workerParts).toBeGreaterThan(0);
      expect({ ...many, threads: 1, workerParts: 0 }).toEqual(one);
    }
  });

  it('takes runtime.threads from the recipe, --threads over it, and keys no step by it', async () => {
    const dir = tempDir();
    const file = (threads: string) =>
      writeText(
        join(dir, `t${threads}.yaml`),
        tinyRecipe({ extra: threads ? `runtime: { threads: ${threads} }` : '' }),
      );
    const keys = async (f: string, opts: { threads?: number } = {}) => {
      const { plan } = await planRecipe(await loadRecipe(f), { ...opts, backend: 'cpu', cacheDir: join(dir, 'c') });
      return { threads: plan.recipe.runtime.threads, keys: plan.steps.map((s) => s.key) };
    };
    const none = await keys(file(''));
    expect(none.threads).toBeUndefined();
    expect(await keys(file('3'))).toEqual({ ...none, threads: 3 });
    expect(await keys(file('3'), { threads: 2 })).toEqual({ ...none, threads: 2 });
    const error = await loadRecipe(file('9')).catch((e: unknown) => e);
    expect(isMcbError(error) && error.code === 'MCB_RECIPE_INVALID' && /threads/.test(error.message)).toBe(true);
  });

  it('counts threads from the option, else MCBUILD_THREADS, else the cores, at most 8', () => {
    expect(wasmThreadCount(3, {})).toBe(3);
    expect(wasmThreadCount(3, { MCBUILD_THREADS: '2' })).toBe(3);
    expect(wasmThreadCount(undefined, { MCBUILD_THREADS: '2' })).toBe(2);
    expect(wasmThreadCount(undefined, { MCBUILD_THREADS: '' })).toBe(Math.min(availableParallelism(), 8));
    expect(wasmThreadCount(undefined, {})).toBe(Math.min(availableParallelism(), 8));
    expect(wasmThreadCount(64, {})).toBe(MAX_WASM_THREADS);
    for (const bad of ['0', '1.5', 'all', '-2']) {
      let error: unknown;
      try {
        wasmThreadCount(undefined, { MCBUILD_THREADS: bad });
      } catch (e) {
        error = e;
      }
      expect(isMcbError(error) && error.exitCode === 2 && error.message.includes('MCBUILD_THREADS')).toBe(true);
    }
  });
});
