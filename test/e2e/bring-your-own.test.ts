/**
 * recipes/bring-your-own.yaml points at paths the user replaces (./my-model, ./images), so the tests that plan
 * every shipped recipe leave it out; this one builds it as a user would: the recipe copied unchanged into a
 * project, a converter-true fixture in its model folder and a few unlabelled PNGs in its image folder.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { embeddingGraph, type ModelFixture } from '../fixtures/models/index.js';
import { ROOT, runCli, stackLines, tempDir, writeText } from '../helpers.js';

const RECIPE = readFileSync(join(ROOT, 'recipes', 'bring-your-own.yaml'), 'utf8');

/** A PNG of `width`×`height` with smooth seeded gradients (photo-like: neighbouring pixels close). */
function picture(width: number, height: number, k: number): Buffer {
  const img = new PNG({ width, height });
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      img.data[i] = Math.round(127 + 120 * Math.sin((x + 7 * k) / 9));
      img.data[i + 1] = Math.round(127 + 120 * Math.cos((y + 3 * k) / 13));
      img.data[i + 2] = ((x + y) * (k + 1)) % 256;
      img.data[i + 3] = 255;
    }
  return PNG.sync.write(img);
}

/** A project with the recipe as shipped, the fixture as ./my-model and `n` images as ./images. */
function project(fixture: ModelFixture, n: number): string {
  const dir = tempDir();
  writeText(join(dir, 'package.json'), '{}');
  const recipes = join(dir, 'recipes');
  writeText(join(recipes, 'bring-your-own.yaml'), RECIPE);
  writeText(join(recipes, 'my-model', '.keep'), '');
  for (const f of readdirSync(fixture.dir)) copyFileSync(join(fixture.dir, f), join(recipes, 'my-model', f));
  writeText(join(recipes, 'images', '.keep'), '');
  for (let k = 0; k < n; k++) writeFileSync(join(recipes, 'images', `photo${k}.png`), picture(150 + 10 * k, 120, k));
  return dir;
}

describe('recipes/bring-your-own.yaml', () => {
  it('names the paths to replace and says how to get a fitted one', () => {
    expect(RECIPE).toMatch(/^ {2}path: \.\/my-model\/model\.json +# REPLACE/m);
    expect(RECIPE).toMatch(/^ {4}path: \.\/images +# REPLACE/m);
    expect(RECIPE).toContain('mcbuild init');
    expect(RECIPE).toContain('docs/bring-your-own.md');
  });

  it('without the user’s files: validate names the missing model (exit 2)', async () => {
    const r = await runCli(['validate', join(ROOT, 'recipes', 'bring-your-own.yaml'), '--cache-dir', tempDir()]);
    expect(r.code, r.all).toBe(2);
    expect(r.stderr).toMatch(/my-model\/model\.json/);
    expect(stackLines(r.stderr)).toEqual([]);
  });

  it('builds unchanged on a graph embedding and unlabelled images: gated on fidelity and size, report.json written', async () => {
    const dir = project(await embeddingGraph(), 6);
    const cache = join(dir, 'cache');
    const valid = await runCli(['validate', 'recipes/bring-your-own.yaml', '--cache-dir', cache], { cwd: dir });
    expect(valid.code, valid.all).toBe(0);
    const r = await runCli(['recipes/bring-your-own.yaml', '--cache-dir', cache], { cwd: dir });
    // 2.88x and cosine 0.99998 here (the recipe's header): both limits met.
    expect(r.code, r.all).toBe(0);
    expect(stackLines(r.all)).toEqual([]);
    const reportFile = join(dir, 'out', 'bring-your-own', 'report.json');
    expect(existsSync(reportFile)).toBe(true);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.recipe.name).toBe('bring-your-own');
    // Label-free: fidelity of the one output and the size were measured; the verdict follows the gate.
    const fidelity = report.metrics.result.fidelity;
    expect(fidelity.outputs.map((o: { name: string }) => o.name)).toEqual(['embedding']);
    expect(fidelity.cosine).toBeGreaterThan(0.9);
    expect(report.metrics.result.sizeBytes).toBeLessThan(report.metrics.baseline.sizeBytes);
    expect(report.verdict).toBe(r.code === 0 ? 'pass' : 'fail');
    expect(r.stdout).toMatch(
      /PASS {2}fidelity\.minCosine: .*\n {2}PASS {2}size\.minRatio: compression ratio is 2\.\d\dx/,
    );
  }, 300_000);
});
