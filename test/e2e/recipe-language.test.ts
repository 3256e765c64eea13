/**
 * The recipe language end to end, on a tiny MLP trained on real MNIST with real TF.js (wasm): matrix sweeps
 * share their common steps (counted), `gate: best`, per-layer overrides in the built model, `explain` of the
 * per-layer plan, the sensitivity scan (cached per layer and setting) and the accuracy-driven search (passes
 * the gate, smaller than uniform 8-bit, written back as a plain recipe that rebuilds the same bytes).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSet } from '../../src/build/index.js';
import type { BuildEvent } from '../../src/execute/index.js';
import { paretoFront, type Sweep } from '../../src/report/index.js';
import { runCli, tempDir, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-lang-e2e-');
const cacheDir = join(dir, 'cache');

/** One baseline for every test here (same model block, so one training in the shared cache). */
const recipe = (body: string) => `version: 1
name: lang
model:
  train: { architecture: mlp, options: { hidden: [64, 32] }, dataset: mnist, limit: 2000, epochs: 2, batchSize: 32, seed: 3 }
data:
  eval: { dataset: mnist, split: test, limit: 400 }
${body}`;

function counter() {
  const starts = new Map<string, string[]>();
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'step-start') starts.set(e.step.key, [...(starts.get(e.step.key) ?? []), e.step.id]);
  };
  return { starts, onEvent };
}

describe('matrix sweep', () => {
  const file = writeText(
    join(dir, 'sweep.yaml'),
    recipe(`matrix:
  sparsity: [0.5, 0.75]
  bits: [8, 4]
passes:
  - prune: { sparsity: "\${{ matrix.sparsity }}" }
  - quantize: { bits: "\${{ matrix.bits }}" }
thresholds:
  size: { minRatio: 5 }
output: ./out/sweep
`),
  );

  it('builds every variant, computing each shared step exactly once, and reports verdicts and the Pareto front', async () => {
    const { starts, onEvent } = counter();
    const set = await buildSet(file, { cacheDir, onEvent });
    // Every key computed at most once across the sweep.
    expect([...starts.values()].filter((ids) => ids.length > 1)).toEqual([]);
    const ran = [...starts.values()].flat().sort();
    // 1 baseline + its eval, 2 prunes (one per sparsity, shared by both bit widths), 4 quantizes, 4 result evals.
    expect(ran.filter((id) => id === 'baseline')).toHaveLength(1);
    expect(ran.filter((id) => id === 'eval-baseline')).toHaveLength(1);
    expect(ran.filter((id) => id === 'pass-1-prune')).toHaveLength(2);
    expect(ran.filter((id) => id === 'pass-2-quantize')).toHaveLength(4);
    expect(ran.filter((id) => id === 'eval-result')).toHaveLength(4);

    const sweep = set.sweep!;
    expect(sweep.variants.map((v) => [v.name, v.folder])).toEqual([
      ['sparsity=0.5,bits=8', 'sparsity-0.5_bits-8'],
      ['sparsity=0.5,bits=4', 'sparsity-0.5_bits-4'],
      ['sparsity=0.75,bits=8', 'sparsity-0.75_bits-8'],
      ['sparsity=0.75,bits=4', 'sparsity-0.75_bits-4'],
    ]);
    // uint8 is ~4x smaller than float32, int4 ~8x: the size gate splits the sweep by bit width.
    expect(sweep.variants.map((v) => v.verdict)).toEqual(['fail', 'pass', 'fail', 'pass']);
    expect(set.exitCode).toBe(1); // gate: all
    const front = paretoFront(sweep.variants.map((v) => ({ size: v.sizeBytes!, accuracy: v.accuracy! })));
    expect(sweep.variants.filter((v) => v.pareto).map((v) => v.name)).toEqual(
      front.map((i) => sweep.variants[i]!.name),
    );
    expect(
      sweep.variants
        .filter((v) => v.pareto)
        .every(
          (v) =>
            v.name.endsWith('bits=4') ||
            v.accuracy! > Math.max(...sweep.variants.filter((w) => w.name.endsWith('bits=4')).map((w) => w.accuracy!)),
        ),
    ).toBe(true);
    const written = JSON.parse(readFileSync(set.sweepFile!, 'utf8')) as Sweep;
    expect(written).toEqual(sweep);
    for (const v of sweep.variants) {
      const report = JSON.parse(readFileSync(join(dir, 'out', 'sweep', v.folder, 'report.json'), 'utf8')) as {
        variant: { name: string };
        verdict: string;
      };
      expect(report.variant.name).toBe(v.name);
      expect(report.verdict).toBe(v.verdict);
    }
  });

  it('gate: best passes when one variant passes, re-gated from cache without running a step', async () => {
    const run = await runCli([file, '--cache-dir', cacheDir, '--set', 'gate=best']);
    expect(run.code).toBe(0);
    expect(run.all).toMatch(
      /2\/4 variants pass; gate: best \(at least one variant must pass\); smallest passing: sparsity=0\.(5|75),bits=4/,
    );
    expect(run.all).toMatch(/4 variants, 0 steps run/);
    const all = await runCli([file, '--cache-dir', cacheDir]);
    expect(all.code).toBe(1);
    expect(all.all).toMatch(/threshold missed: sparsity=0\.5,bits=8: size\.minRatio/);
  });
});

describe('overrides, explain, sensitivity and search', () => {
  const overridden = writeText(
    join(dir, 'overridden.yaml'),
    recipe(`passes:
  - quantize: { dtype: int8, granularity: per-channel }
overrides:
  - classes: [Dense]
    quantize: { dtype: int4 }
  - layers: ["re:fc_\\\\d"]
    quantize: { clip: mse }
  - layers: [predictions]
    quantize: skip
thresholds:
  accuracy: { maxDrop: 0.05 }
output: ./out/overridden
`),
  );

  it('builds the per-layer plan and records what was applied', async () => {
    const run = await runCli([overridden, '--cache-dir', cacheDir]);
    expect(run.code, run.all).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'out', 'overridden', 'model.json'), 'utf8')) as {
      weightsManifest: { weights: { name: string; dtype: string; quantization?: { dtype: string } }[] }[];
    };
    const dtype = (name: string) =>
      json.weightsManifest.flatMap((g) => g.weights).find((w) => w.name === name)!.quantization?.dtype ?? 'float32';
    expect([dtype('fc_1/kernel'), dtype('fc_2/kernel'), dtype('predictions/kernel')]).toEqual([
      'int4',
      'int4',
      'float32',
    ]);
    const report = JSON.parse(readFileSync(join(dir, 'out', 'overridden', 'report.json'), 'utf8')) as {
      passes: {
        overridden: {
          layer: string;
          skip?: boolean;
          options?: Record<string, unknown>;
          setBy: Record<string, string>;
        }[];
      }[];
    };
    const applied = Object.fromEntries(report.passes[0]!.overridden.map((o) => [o.layer, o]));
    expect(applied.fc_1!.options).toEqual({ dtype: 'int4', granularity: 'per-channel', clip: 'mse' });
    expect(applied.fc_1!.setBy).toEqual({
      dtype: 'overrides[0].quantize',
      granularity: 'passes[0].quantize',
      clip: 'overrides[1].quantize',
    });
    expect(applied.predictions!.skip).toBe(true);
  });

  it('explain shows each layer’s options and who set them, and what changed since the last build', async () => {
    const run = await runCli(['explain', overridden, '--cache-dir', cacheDir, '--step', 'pass-1-quantize']);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(/per layer {2}4 layers at its input; 3 set by overrides/);
    expect(run.stdout).toMatch(
      /fc_1 +dtype=int4 \(overrides\[0\]\.quantize\), granularity=per-channel \(passes\[0\]\.quantize\), clip=mse \(overrides\[1\]\.quantize\)/,
    );
    expect(run.stdout).toMatch(/predictions +skip \(overrides\[2\]\.quantize\)/);
    expect(run.stdout).toMatch(/since the last build: unchanged/);
    const layer = await runCli([
      'explain',
      overridden,
      '--cache-dir',
      cacheDir,
      '--layer',
      'fc_2',
      '--set',
      'overrides[0].quantize.dtype=int2',
    ]);
    expect(layer.stdout).toMatch(/pass-1-quantize +dtype=int2 \(overrides\[0\]\.quantize\)/);
    const changed = await runCli([
      'explain',
      overridden,
      '--cache-dir',
      cacheDir,
      '--step',
      'pass-1-quantize',
      '--set',
      'overrides[0].quantize.dtype=int2',
    ]);
    expect(changed.stdout).toMatch(/since the last build: overrides\[0\]\.set\.dtype: "int4" → "int2"/);
  });

  it('sensitivity scans each kernel layer at each candidate, and a second scan is all cache hits', async () => {
    const file = writeText(
      join(dir, 'scan.yaml'),
      recipe('passes:\n  - quantize: { dtype: uint8 }\noutput: ./out/scan\n'),
    );
    const run = await runCli([
      'sensitivity',
      file,
      '--cache-dir',
      cacheDir,
      '--pass',
      'quantize',
      '--candidates',
      '8,2',
    ]);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(/layer +class +params +bits=8 +bits=2/);
    expect(run.stdout).toMatch(/fc_1 +Dense +50,240 /);
    const json = JSON.parse(readFileSync(join(dir, 'out', 'scan.sensitivity.json'), 'utf8')) as {
      layers: { layer: string; trials: { value: number; drop: number }[] }[];
    };
    expect(json.layers.map((l) => l.layer)).toEqual(['fc_1', 'fc_2', 'predictions']);
    // 2 bits on one layer costs more than 8 bits on it, for every layer.
    for (const l of json.layers) expect(l.trials[1]!.drop).toBeGreaterThan(l.trials[0]!.drop);
    const again = await runCli([
      'sensitivity',
      file,
      '--cache-dir',
      cacheDir,
      '--pass',
      'quantize',
      '--candidates',
      '8,2',
      '--json',
    ]);
    expect((JSON.parse(again.stdout) as { ran: number }).ran).toBe(0);
    // A layer the recipe's own overrides skip is the user's decision: it is neither scanned nor searched.
    const fixed = await runCli([
      'sensitivity',
      file,
      '--cache-dir',
      cacheDir,
      '--candidates',
      '8,2',
      '--json',
      '--set',
      'overrides=[{layers: [predictions], quantize: skip}]',
    ]);
    expect((JSON.parse(fixed.stdout) as { layers: { layer: string }[] }).layers.map((l) => l.layer)).toEqual([
      'fc_1',
      'fc_2',
    ]);
  });

  it('search finds a per-layer plan that passes the gate and is smaller than uniform 8-bit, and writes it back', async () => {
    const uniform = writeText(
      join(dir, 'uniform8.yaml'),
      recipe(
        'passes:\n  - quantize: { bits: 8 }\nthresholds:\n  accuracy: { maxDrop: 0.01 }\noutput: ./out/uniform8\n',
      ),
    );
    const searched = writeText(
      join(dir, 'auto.yaml'),
      recipe(
        'passes:\n  - quantize: { bits: auto, candidates: [8, 4, 2], budget: thresholds, maxTrials: 8 }\nthresholds:\n  accuracy: { maxDrop: 0.01 }\noutput: ./out/auto\n',
      ),
    );
    const u = await runCli([uniform, '--cache-dir', cacheDir, '--json']);
    expect(u.code, u.all).toBe(0);
    const s = await runCli([searched, '--cache-dir', cacheDir, '--json']);
    expect(s.code, s.all).toBe(0);
    const ur = JSON.parse(u.stdout) as { metrics: { result: { sizeBytes: number } } };
    const sr = JSON.parse(s.stdout) as {
      verdict: string;
      metrics: { result: { sizeBytes: number } };
      search: { chosen: Record<string, number>; trials: { move: string; pass: boolean }[]; stoppedBecause: string };
    };
    expect(sr.verdict).toBe('pass');
    expect(sr.metrics.result.sizeBytes).toBeLessThan(ur.metrics.result.sizeBytes);
    expect(Object.keys(sr.search.chosen).length).toBeGreaterThan(0);
    expect(sr.search.trials[0]!.move).toMatch(/^start: every layer at bits 8/);
    expect(sr.search.trials.length).toBeLessThanOrEqual(8);
    // Written back as a plain recipe with explicit overrides; rebuilding it searches nothing and runs nothing.
    const plain = join(dir, 'auto.searched.yaml');
    expect(existsSync(plain)).toBe(true);
    const text = readFileSync(plain, 'utf8');
    expect(text).not.toMatch(/: auto\b|candidates/);
    expect(text).toMatch(/overrides:\n {2}- layers:/);
    expect(readFileSync(join(dir, 'out', 'auto', 'recipe.searched.yaml'), 'utf8')).toBe(text);
    // The same model, byte for byte, except the provenance stamp: it names the recipe that built it, and the
    // searched recipe is another file than the one with `auto`.
    const unstamped = () => {
      const json = JSON.parse(readFileSync(join(dir, 'out', 'auto', 'model.json'), 'utf8')) as {
        userDefinedMetadata?: { mcbuild?: { provenance?: string } };
      };
      expect(json.userDefinedMetadata?.mcbuild?.provenance).toMatch(/^sha256:[0-9a-f]{64}$/);
      delete json.userDefinedMetadata!.mcbuild;
      return json;
    };
    const shards = () =>
      readdirSync(join(dir, 'out', 'auto'))
        .filter((f) => f.endsWith('.bin'))
        .map((f) => readFileSync(join(dir, 'out', 'auto', f)).toString('base64'));
    const [modelBefore, shardsBefore] = [unstamped(), shards()];
    const rebuilt = await runCli([plain, '--cache-dir', cacheDir]);
    expect(rebuilt.code, rebuilt.all).toBe(0);
    expect(rebuilt.all).toMatch(/0 run in/);
    expect(unstamped()).toEqual(modelBefore);
    expect(shards()).toEqual(shardsBefore);
  });
});
