import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DATASET_KINDS,
  datasetFacts,
  datasetFingerprint,
  datasetId,
  datasetLabelled,
  datasetPaths,
  datasetShape,
  describeDataset,
  kindOf,
} from '../../src/data/index.js';
import type { DataSpec, NpyDataSpec, NpzDataSpec } from '../../src/recipe/index.js';
import { ROOT, tempDir, tinyRecipe, writeText } from '../helpers.js';

const fixture = (name: string) => join(ROOT, 'test', 'fixtures', 'npy', name);
const tmp = tempDir('mcbuild-kinds-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('DATASET_KINDS: one object per kind of data', () => {
  it('has one kind for each `dataset:` a recipe can name, filed under its name', () => {
    expect(Object.keys(DATASET_KINDS).sort()).toEqual(['images', 'mnist', 'npy', 'npz']);
    for (const [name, kind] of Object.entries(DATASET_KINDS)) expect(kind.dataset).toBe(name);
  });

  it('mnist is known to planning without reading anything', async () => {
    const spec: DataSpec = { dataset: 'mnist', split: 'test', limit: 300 };
    expect(kindOf(spec)).toBe(DATASET_KINDS.mnist);
    expect(describeDataset(spec)).toBe('mnist/test[:300]');
    expect(await datasetFacts(spec, 'w')).toBeUndefined();
    expect(datasetShape(spec)).toEqual({ inputShape: [28, 28, 1], numClasses: 10 });
    expect(datasetLabelled(spec)).toBe(true);
    expect(datasetPaths(spec)).toEqual([]);
    expect(datasetFingerprint(spec)).toEqual({ ...spec, loader: 1, package: expect.stringMatching(/^mnist@\d/) });
  });

  it('a file kind reads its facts once, then plans and keys from them, without its paths in the key', async () => {
    const spec: NpyDataSpec = { dataset: 'npy', x: fixture('x_u1.npy'), y: fixture('y_i8.npy'), scale: 1, offset: 0 };
    const facts = (await datasetFacts(spec, 'w'))!;
    expect(facts.digest).toMatch(/^[0-9a-f]{64}$/);
    const map = { [datasetId(spec)]: facts };
    expect(describeDataset(spec)).toBe('npy x_u1.npy');
    expect(datasetPaths(spec)).toEqual([spec.x, spec.y]);
    expect(datasetShape(spec, map)).toEqual({
      inputShape: facts.inputShape,
      ...(facts.numClasses === undefined ? {} : { numClasses: facts.numClasses }),
    });
    expect(datasetLabelled(spec, map)).toBe(facts.labelled);
    expect(datasetFingerprint(spec, map)).toEqual({
      dataset: 'npy',
      scale: 1,
      offset: 0,
      labels: true,
      loader: 1,
      digest: facts.digest,
    });
    // Facts are gathered before planning; asking without them is a programming error, said as such.
    expect(() => datasetShape(spec)).toThrow(/no facts gathered for the npy dataset .*call gatherPlanInputs first/);
  });

  it('titles and paths of images and npz name the folder, the archive and the array', () => {
    const images: DataSpec = {
      dataset: 'images',
      path: '/data/digits/',
      split: 'test',
      channels: 1,
      scale: 1,
      offset: 0,
      limit: 200,
    };
    const npz: NpzDataSpec = { dataset: 'npz', path: '/data/set.npz', x: 'inputs', scale: 1, offset: 0 };
    expect(describeDataset(images)).toBe('images digits[:200]');
    expect(describeDataset(npz)).toBe('npz set.npz/inputs');
    expect(datasetPaths(images)).toEqual(['/data/digits/']);
    expect(datasetPaths(npz)).toEqual(['/data/set.npz']);
    const f = { digest: 'd', inputShape: [4], labelled: false };
    expect(datasetFingerprint(npz, { [datasetId(npz)]: f })).toEqual({
      dataset: 'npz',
      x: 'inputs',
      scale: 1,
      offset: 0,
      loader: 1,
      digest: 'd',
      unzip: expect.stringMatching(/^fflate@/),
    });
    expect(datasetShape(npz, { [datasetId(npz)]: f })).toEqual({ inputShape: [4] });
  });

  it('planning an mnist recipe loads no file loader nor image decoder; reading an archive does', () => {
    // Every module resolved is logged by a loader hook; runs against dist/ (`npm run build` first). (fflate
    // itself is no sign: the runtime's entropy decoder uses it too.)
    const recipe = writeText(join(tmp, 'mnist.yaml'), tinyRecipe());
    const hook = `export async function resolve(s, c, next) { const r = await next(s, c); if (/[\\\\/](node_modules[\\\\/](pngjs|jpeg-js)[\\\\/]|data[\\\\/](images|npy|npz)\\.js$)/.test(r.url)) console.log('loaded ' + r.url); return r; }`;
    const run = (body: string) =>
      execFileSync(process.execPath, [
        '--input-type=module',
        '-e',
        `import { register } from 'node:module';
        register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
        ${body}`,
      ]).toString();
    const planned = run(`const m = await import(${JSON.stringify(join(ROOT, 'dist/src/pipeline/index.js'))});
      await m.planBuild(${JSON.stringify(recipe)}, { cacheDir: ${JSON.stringify(join(tmp, 'cache'))} });
      console.log('planned');`);
    expect(planned.trim().split('\n')).toEqual(['planned']);
    const read = run(`const d = await import(${JSON.stringify(join(ROOT, 'dist/src/data/index.js'))});
      await d.datasetFacts({ dataset: 'npz', path: ${JSON.stringify(fixture('stored.npz'))}, x: 'x', scale: 1, offset: 0 }, 'w');`);
    expect(read).toMatch(/loaded .*data\/npz\.js/);
  });
});
