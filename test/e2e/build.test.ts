/**
 * End-to-end: the built CLI on real recipes in temp dirs, real TF.js (wasm), real MNIST slices.
 * One project is shared by the tests in order, as a user would iterate on one recipe.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { listFiles, ROOT, runCli, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const recipe = join(dir, 'tiny.yaml');
const out = join(dir, 'out');
const build = (file = recipe, extra: string[] = []) => runCli([file, '--cache-dir', cacheDir, ...extra], { cwd: dir });
const summary = (r: CliRun) => /(\d+) steps, (\d+) cached, (\d+) run/.exec(r.stdout)?.slice(1).map(Number);
const report = () => JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));

let first: CliRun;
let firstReport: string;

beforeAll(async () => {
  writeText(recipe, tinyRecipe());
  first = await build();
  firstReport = readFileSync(join(out, 'report.json'), 'utf8');
});

describe('a first build', () => {
  it('trains, measures, quantizes, gates and exits 0', () => {
    expect(first.stderr).not.toMatch(/internal error/);
    expect(first.code).toBe(0);
    expect(summary(first)).toEqual([4, 0, 4]);
    expect(first.stdout).toMatch(/verdict: PASS \(backend wasm\)/);
    expect(first.stdout).toMatch(/accuracy\s+\d+\.\d\d%\s+\d+\.\d\d%/);
    expect(first.stderr).toMatch(/\[run\]\s+baseline: train baseline mlp/);
  });

  it('writes the output model and a report', () => {
    expect(readdirSync(out).sort()).toEqual([
      'group1-shard1of1.bin',
      'manifest.json',
      'model.json',
      'provenance.json',
      'report.html',
      'report.json',
      'run.json',
    ]);
    const r = report();
    expect(r.verdict).toBe('pass');
    expect(r.backend).toBe('wasm');
    expect(r.steps.map((s: { id: string }) => s.id)).toEqual([
      'baseline',
      'eval-baseline',
      'pass-1-quantize',
      'eval-result',
    ]);
    expect(r.steps.every((s: { key: string }) => /^[0-9a-f]{64}$/.test(s.key))).toBe(true);
    expect(r.versions['@tensorflow/tfjs-core']).toBe('4.22.0');
    // A trained 784-32-10 MLP learns MNIST far beyond chance (10%) even on 800 samples.
    expect(r.metrics.baseline.accuracy).toBeGreaterThan(0.6);
    expect(r.metrics.result.count).toBe(300);
    // uint8 weights: about a quarter of the float32 bytes (model.json adds a little).
    expect(r.metrics.result.sizeBytes).toBeLessThan(r.metrics.baseline.sizeBytes / 3.5);
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    const kernel = json.weightsManifest[0].weights.find((w: { name: string }) => w.name.endsWith('kernel'));
    expect(kernel.quantization.dtype).toBe('uint8');
  });

  it('loads with stock TF.js in a separate process and predicts exactly as measured', async () => {
    const test = await loadMnist('test', 300);
    const inputs = join(dir, 'inputs.f32');
    writeFileSync(inputs, test.x);
    const stdout = execFileSync(
      process.execPath,
      [join(ROOT, 'test/load-model.mjs'), out, 'stock', 'layers', inputs, '300', '28,28,1'],
      { cwd: ROOT },
    ).toString();
    const { classes } = JSON.parse(stdout) as { classes: number[] };
    const correct = classes.filter((c, i) => c === test.y[i]).length;
    expect(correct).toBe(report().metrics.result.correct);
  });
});

describe('the next builds', () => {
  it('an identical second run is a full cache hit that loads no engine', async () => {
    const second = await build();
    expect(second.code).toBe(0);
    expect(summary(second)).toEqual([4, 4, 0]);
    expect(second.stderr).not.toMatch(/engine: TF\.js/);
    expect(second.stderr.match(/\[cached\]/g)).toHaveLength(4);
    expect(second.seconds).toBeLessThan(first.seconds);
    // Same recipe, same backend: the same report, byte for byte (no timestamps or cache status inside).
    expect(readFileSync(join(out, 'report.json'), 'utf8')).toBe(firstReport);
  });

  it('changing one pass option reruns that pass and what follows, nothing before it', async () => {
    const before = report();
    writeText(recipe, tinyRecipe({ passes: '  - quantize: { dtype: uint16 }' }));
    const r = await build();
    expect(r.code).toBe(0);
    expect(summary(r)).toEqual([4, 2, 2]);
    expect(r.stderr).toMatch(/\[cached\] baseline:/);
    expect(r.stderr).toMatch(/\[cached\] eval-baseline:/);
    expect(r.stderr).toMatch(/\[run\]\s+pass-1-quantize:/);
    expect(r.stderr).toMatch(/\[run\]\s+eval-result:/);
    const after = report();
    expect(after.metrics.baseline).toEqual(before.metrics.baseline);
    expect(after.steps[0].key).toBe(before.steps[0].key);
    expect(after.steps[2].key).not.toBe(before.steps[2].key);
  });

  it('a missed threshold exits 1 naming it, the measured value and the limit; loosening it passes; neither recomputes', async () => {
    writeText(
      recipe,
      tinyRecipe({ passes: '  - quantize: { dtype: uint16 }', thresholds: '  size: { maxBytes: 1kB }' }),
    );
    const tight = await build();
    expect(tight.code).toBe(1);
    expect(summary(tight)).toEqual([4, 4, 0]);
    expect(tight.stderr).toMatch(
      /threshold missed: size\.maxBytes: size is [\d.]+ kB \(\d+ bytes\); limit 1\.0 kB \(1000 bytes\)/,
    );
    expect(tight.stdout).toMatch(/FAIL\s+size\.maxBytes/);
    expect(report().verdict).toBe('fail');

    writeText(
      recipe,
      tinyRecipe({
        passes: '  - quantize: { dtype: uint16 }',
        thresholds: '  size: { maxBytes: 10MB }\n  accuracy: { min: 0.5 }',
      }),
    );
    const loose = await build();
    expect(loose.code).toBe(0);
    expect(summary(loose)).toEqual([4, 4, 0]);
    expect(report().verdict).toBe('pass');
  });

  it('a damaged cache entry is rebuilt with a warning, never trusted', async () => {
    // Flip one byte in every stored file that holds weights (the larger content blobs).
    const big = listFiles(join(cacheDir, 'content-v2')).filter((f) => readFileSync(f).byteLength > 10_000);
    expect(big.length).toBeGreaterThan(0);
    for (const f of big) {
      const bytes = readFileSync(f);
      bytes[bytes.length >> 1]! ^= 0xff;
      writeFileSync(f, bytes);
    }
    const r = await build();
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /warning: cache entry [0-9a-f]{12} is unusable \(its file \S+ is corrupt\); it will be rebuilt/,
    );
    expect(r.stderr).toMatch(/cache entry was damaged/);
    const again = await build();
    expect(summary(again)).toEqual([4, 4, 0]);
  });

  it('`mcbuild plan` lists steps with key prefixes and cache status without running anything', async () => {
    writeText(recipe, tinyRecipe({ passes: '  - quantize: { dtype: float16 }' }));
    const r = await runCli(['plan', recipe, '--cache-dir', cacheDir], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cached\s+[0-9a-f]{12}\s+baseline\s+train baseline mlp/);
    expect(r.stdout).toMatch(/missing\s+[0-9a-f]{12}\s+pass-1-quantize/);
    expect(r.stdout).toMatch(/4 steps: 2 cached, 2 to run/);
    const json = await runCli(['plan', recipe, '--cache-dir', cacheDir, '--json'], { cwd: dir });
    const parsed = JSON.parse(json.stdout);
    expect(parsed.steps.map((s: { cached: boolean }) => s.cached)).toEqual([true, true, false, false]);
    expect(existsSync(join(out, 'model.json'))).toBe(true);
  });
});
