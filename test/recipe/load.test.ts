import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { McbError } from '../../src/errors.js';
import { loadRecipe } from '../../src/language/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
let n = 0;
const recipeFile = (text: string) => writeText(join(dir, `r${n++}.yaml`), text);

async function loadError(text: string): Promise<McbError> {
  const err = await loadRecipe(recipeFile(text)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McbError);
  return err as McbError;
}

describe('loadRecipe', () => {
  it('fills defaults and resolves paths against the recipe file, not the working directory', async () => {
    const r = await loadRecipe(recipeFile(tinyRecipe({ model: '  path: ../models/m/model.json', output: 'dist/x' })));
    expect(r.model).toEqual({ kind: 'file', path: join(dir, '..', 'models/m/model.json') });
    expect(r.output).toBe(join(dir, 'dist/x'));
    expect(r.data.eval).toEqual({ dataset: 'mnist', split: 'test', limit: 300 });
    expect(r.runtime.backend).toBe('auto');
    expect(r.passes).toEqual([{ index: 0, name: 'quantize', rawOptions: { dtype: 'uint8' } }]);
  });

  it('fills training defaults', async () => {
    const r = await loadRecipe(recipeFile(tinyRecipe({ model: '  train: { architecture: mlp }' })));
    expect(r.model).toEqual({
      kind: 'train',
      train: {
        architecture: 'mlp',
        options: {},
        data: { dataset: 'mnist', split: 'train' },
        epochs: 3,
        batchSize: 64,
        learningRate: 0.001,
        optimizer: 'adam',
        schedule: { type: 'constant' },
        seed: 1,
      },
    });
  });

  it('accepts human byte sizes in thresholds', async () => {
    const r = await loadRecipe(recipeFile(tinyRecipe({ thresholds: '  size: { maxBytes: 1.5MB, minRatio: 2 }' })));
    expect(r.thresholds.size).toEqual({ maxBytes: 1_500_000, minRatio: 2 });
    const k = await loadRecipe(recipeFile(tinyRecipe({ thresholds: '  size: { maxBytes: 300kB }' })));
    expect(k.thresholds.size?.maxBytes).toBe(300_000);
    const t = await loadRecipe(
      recipeFile(tinyRecipe({ thresholds: '  size: { maxGzipBytes: 250kB, maxBrotliBytes: 1MiB }' })),
    );
    expect(t.thresholds.size).toEqual({ maxGzipBytes: 250_000, maxBrotliBytes: 1024 * 1024 });
  });

  it('rejects a malformed byte size in words, at its position', async () => {
    const e = await loadError(tinyRecipe({ thresholds: '  size: { maxBytes: 3 parsecs }' }));
    expect(e.message).toMatch(
      /`thresholds\.size\.maxBytes` must be a size in bytes, such as 300000, "300kB".* \(got "3 parsecs"\) at .*r\d+\.yaml:17:21/,
    );
  });

  it('rejects a malformed transfer size limit the same way', async () => {
    const e = await loadError(tinyRecipe({ thresholds: '  size: { maxGzipBytes: lots }' }));
    expect(e.message).toMatch(
      /`thresholds\.size\.maxGzipBytes` must be a size in bytes, such as 300000, "300kB".* \(got "lots"\) at .*r\d+\.yaml:17:\d+/,
    );
  });

  it('rejects duplicate keys', async () => {
    const e = await loadError(tinyRecipe().replace('name: tiny', 'name: tiny\nname: again'));
    expect(e.code).toBe('MCB_RECIPE_YAML');
    expect(e.message).toMatch(/r\d+\.yaml:3:1: YAML error: a key appears twice in the same map/);
  });

  it('rejects an alias bomb without expanding it', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const e = await loadError(bomb.join('\n'));
    expect(e.code).toBe('MCB_RECIPE_YAML');
    expect(e.message).toMatch(/alias/i);
  });

  it('rejects unknown top-level keys and suggests the closest', async () => {
    const e = await loadError(tinyRecipe({ extra: 'treshold: 3' }));
    expect(e.message).toMatch(
      /the recipe has an unknown key `treshold` at .*:19:1 \(did you mean `thresholds`\?\); allowed keys: version, name/,
    );
  });

  it('names an unknown pass with a suggestion', async () => {
    const e = await loadError(tinyRecipe({ passes: '  - quantise: { bits: 8 }' }));
    expect(e.message).toMatch(
      /`passes\[0\]` names an unknown pass `quantise` at .*:15:5 \(did you mean `quantize`\?\); known passes: quantize/,
    );
  });

  it('says which key is required and where', async () => {
    const e = await loadError('version: 1\nname: x\nmodel: { path: m.json }\n');
    expect(e.message).toMatch(/`data` is required at .*:1:1; add it to the top level/);
  });

  it('lists every problem at once', async () => {
    const e = await loadError(tinyRecipe({ passes: '  - quantize: { bits: 3, dtype: int3 }' }));
    expect(e.message).toMatch(/has 2 problems:\n/);
    expect(e.message).toMatch(/\n {2}- `passes\[0\]\.quantize\.bits` must be one of 2, 4, 8, 16 \(got 3\)/);
    expect(e.message).toMatch(
      /\n {2}- `passes\[0\]\.quantize\.dtype` must be one of "float16", "bfloat16", "uint8", "uint16", "int8", "int4", "int2" \(got "int3"\)/,
    );
  });

  it('checks architecture options per architecture, with a suggestion', async () => {
    const e = await loadError(
      tinyRecipe({ model: '  train: { architecture: mobilenet-v1, options: { alpah: 0.5 } }' }),
    );
    expect(e.message).toMatch(
      /`model\.train\.options` has an unknown key `alpah` at .*:4:51 \(did you mean `alpha`\?\); allowed keys: alpha, depthMultiplier, depth$/,
    );
    const unknown = await loadError(tinyRecipe({ model: '  train: { architecture: resnet50 }' }));
    expect(unknown.message).toMatch(
      /`model\.train\.architecture` must be one of "mlp", "lenet5", "mobilenet-v1", "mobilenet-v2" \(got "resnet50"\)/,
    );
    const wrongArch = await loadError(tinyRecipe({ model: '  train: { architecture: mlp, options: { alpha: 0.5 } }' }));
    expect(wrongArch.message).toMatch(/unknown key `alpha`.*allowed keys: hidden$/);
  });

  it('requires exactly one model source', async () => {
    const e = await loadError(tinyRecipe({ model: '  path: a.json\n  train: { architecture: mlp }' }));
    expect(e.message).toMatch(/`model` must have exactly one of: path, train at .*:4:3/);
  });

  it('reports a missing file and a directory clearly', async () => {
    await expect(loadRecipe(join(dir, 'absent.yaml'))).rejects.toThrow(/does not exist/);
    await expect(loadRecipe(dir)).rejects.toThrow(/is a directory, not a recipe file/);
  });

  it('rejects an empty recipe', async () => {
    const e = await loadError('# nothing here\n');
    expect(e.message).toMatch(/the recipe is empty/);
  });
});

describe('hostile recipes', () => {
  it('limits nesting depth and string length, with the place', async () => {
    const deep = await loadError(
      `${tinyRecipe()}\n${Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n')} 1\n`,
    );
    expect(deep.message).toMatch(/r\d+\.yaml:\d+:\d+: the recipe is nested more than 32 levels deep/);
    const flow = await loadError(`${tinyRecipe()}\nx: ${'['.repeat(10_000)}\n`);
    expect(flow.code).toBe('MCB_RECIPE_YAML');
    expect(flow.message).toMatch(/brackets nested more than 64 deep/);
    // Brackets inside quotes and comments are text, not nesting.
    const quoted = await loadRecipe(
      recipeFile(tinyRecipe({ extra: `description: "${'['.repeat(100)}" # ${'{'.repeat(100)}` })),
    );
    expect(quoted.description).toBe('['.repeat(100));
    const long = await loadError(tinyRecipe({ extra: `description: ${'y'.repeat(70_000)}` }));
    expect(long.message).toMatch(/`description` is a string of 70000 characters; recipe values may be at most 65536/);
  });

  it('refuses an output outside the project root unless allowOutside', async () => {
    const project = tempDir();
    writeText(join(project, 'package.json'), '{}');
    const file = writeText(join(project, 'recipes', 'r.yaml'), tinyRecipe({ output: '../../elsewhere' }));
    const e = await loadRecipe(file).catch((x: unknown) => x as McbError);
    expect(e).toBeInstanceOf(McbError);
    expect((e as McbError).code).toBe('MCB_OUTPUT');
    expect((e as McbError).message).toMatch(
      /`output` at .*r\.yaml:\d+:\d+ is outside the project root: it resolves to .*elsewhere, and the project root is .*--allow-outside/,
    );
    expect((await loadRecipe(file, { allowOutside: true })).output).toBe(join(project, '..', 'elsewhere'));
    // Inside (one folder up from recipes/, still below package.json) is fine.
    writeText(file, tinyRecipe({ output: '../out/r' }));
    expect((await loadRecipe(file)).output).toBe(join(project, 'out', 'r'));
  });

  it('model.nonFinite: fail or warn beside path only', async () => {
    const r = await loadRecipe(recipeFile(tinyRecipe({ model: '  path: ./m/model.json\n  nonFinite: warn' })));
    expect(r.model).toMatchObject({ kind: 'file', nonFinite: 'warn' });
    const bad = await loadError(tinyRecipe({ model: '  path: ./m/model.json\n  nonFinite: ignore' }));
    expect(bad.message).toMatch(/`model\.nonFinite` must be one of "fail", "warn" \(got "ignore"\)/);
    const train = await loadError(tinyRecipe({ model: '  train: { architecture: mlp }\n  nonFinite: warn' }));
    expect(train.message).toMatch(/`model\.nonFinite` at .*:\d+:\d+ applies to a model file/);
    const neither = await loadError(tinyRecipe({ model: '  nonFinite: warn' }));
    expect(neither.message).toMatch(/`model` must have exactly one of: path, train/);
    const typo = await loadError(tinyRecipe({ model: '  pth: ./m/model.json' }));
    expect(typo.message).toMatch(/unknown key `pth`.*did you mean `path`/);
    expect(typo.message).not.toMatch(/must NOT|anyOf/);
  });
});
