/**
 * Independent steps side by side on one machine (src/execute/pool.ts), end to end on real MNIST and real TF.js
 * (wasm) in real child processes: a sweep built with a budget of 2 cores gives byte for byte what it gives one
 * variant at a time, computes each shared step once, never runs more threads than cores at once, times
 * latency alone; the sensitivity scan gives the same table in parallel. Needs dist/ (`npm run build`): the
 * pool's children run the compiled step-child.js.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSet } from '../../src/build/index.js';
import type { BuildEvent } from '../../src/execute/index.js';
import { loadRecipe } from '../../src/language/index.js';
import { scanSensitivity } from '../../src/search/sensitivity.js';
import { listFiles, tempDir, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-parallel-');

const recipe = (body: string) => `version: 1
name: parallel
model:
  train: { architecture: mlp, options: { hidden: [32] }, dataset: mnist, limit: 600, epochs: 1, batchSize: 32, seed: 5 }
data:
  train: { dataset: mnist, split: train, limit: 300 }
  eval: { dataset: mnist, split: test, limit: 200 }
${body}`;

const sweepFile = writeText(
  join(dir, 'sweep.yaml'),
  recipe(`matrix:
  sparsity: [0.5, 0.8]
  bits: [8, 4]
passes:
  - prune: { sparsity: "\${{ matrix.sparsity }}" }
  - finetune: { steps: 6 }
  - quantize: { bits: "\${{ matrix.bits }}" }
thresholds:
  accuracy: { maxDrop: 0.5 }
  latency: { minRatio: 0.01 }
runtime:
  latency: { batchSizes: [1], runs: 4 }
output: ./out
`),
);

/**
 * Every file of an output folder but what this machine measured (latency, times, host): run.json, and the
 * report page that charts it.
 */
function outputs(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of listFiles(root))
    if (!/(run\.json|report\.html)$/.test(f)) files[f.slice(root.length)] = readFileSync(f, 'hex');
  return files;
}

describe('steps side by side', () => {
  it('a sweep on 2 cores gives the bytes of one variant at a time, within the core budget, latency alone', async () => {
    const events: BuildEvent[] = [];
    const parallel = await buildSet(sweepFile, {
      cacheDir: join(dir, 'cache-2'),
      output: join(dir, 'out-2'),
      threads: 2,
      onEvent: (e) => events.push(e),
    });
    const sequential = await buildSet(sweepFile, {
      cacheDir: join(dir, 'cache-1'),
      output: join(dir, 'out-1'),
      threads: 1,
    });
    expect(parallel.results).toHaveLength(4);
    expect(parallel.exitCode).toBe(sequential.exitCode);
    const one = outputs(join(dir, 'out-1'));
    expect(Object.keys(one).length).toBeGreaterThan(4 * 5);
    expect(outputs(join(dir, 'out-2'))).toEqual(one);

    // Each shared step once (the baseline, its evaluation, a prune and finetune per sparsity).
    const starts = events.filter((e) => e.type === 'step-start');
    const keys = starts.map((e) => e.step.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(starts.filter((e) => e.step.id === 'baseline')).toHaveLength(1);
    expect(starts.filter((e) => e.step.id === 'pass-2-finetune')).toHaveLength(2);
    // Interleaved, every event names its variant.
    expect(starts.every((e) => typeof e.variant === 'string')).toBe(true);

    // Threads of the steps computing at any moment never exceed the 2 cores, and two did run at once.
    const threadsOf = new Map<string, number>();
    let running = 0;
    let most = 0;
    let timing = false;
    for (const e of events) {
      if (!('step' in e)) continue;
      const id = `${e.variant}/${e.step.key}`;
      const computing =
        e.type === 'step-progress' && /computing in a process of its own on (\d) thread/.exec(e.message);
      if (computing) {
        expect(timing).toBe(false);
        threadsOf.set(id, Number(computing[1]));
        running += Number(computing[1]);
        most = Math.max(most, threadsOf.size);
        expect(running).toBeLessThanOrEqual(2);
      } else if (e.type === 'step-start' && e.step.spec.kind === 'latency') {
        expect(threadsOf.size).toBe(0); // latency is timed with nothing else computing
        timing = true;
      } else if (e.type === 'step-progress' && /^computed on/.test(e.message)) {
        running -= threadsOf.get(id)!;
        threadsOf.delete(id);
      } else if (e.type === 'step-done' && e.step.spec.kind === 'latency') timing = false;
    }
    expect(running).toBe(0);
    expect(most).toBeGreaterThanOrEqual(2);
    expect(starts.filter((e) => e.step.spec.kind === 'latency')).toHaveLength(4);
  });

  it('the sensitivity scan measures the same table with its trials side by side', async () => {
    const file = writeText(
      join(dir, 'scan.yaml'),
      recipe(`passes:
  - quantize: { bits: 8 }
thresholds:
  accuracy: { maxDrop: 0.5 }
output: ./out-scan
`),
    );
    const r = await loadRecipe(file);
    const scan = (threads: number) =>
      scanSensitivity(r, { cacheDir: join(dir, `scan-${threads}`), threads, option: 'bits', candidates: [4, 2] });
    const [parallel, sequential] = [await scan(2), await scan(1)];
    expect(parallel.layers.map((l) => l.trials.length)).toEqual([2, 2]);
    expect(parallel).toEqual(sequential);
    // The children committed every trial to the cache the scan was given.
    expect(readdirSync(join(dir, 'scan-2')).length).toBeGreaterThan(0);
  });
});
