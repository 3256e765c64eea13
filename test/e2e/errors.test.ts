/**
 * Bad input of every kind named in the issue: each is one clear paragraph on stderr naming the file and the
 * fix, exit code 2, no stack trace, and nothing already built is lost or half-written.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const run = (args: string[]) => runCli([...args, '--cache-dir', cacheDir], { cwd: dir });

function expectUsageError(r: CliRun, code: string, ...patterns: RegExp[]) {
  expect(r.code, r.all).toBe(2);
  expect(stackLines(r.stderr)).toEqual([]);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stderr).toMatch(new RegExp(`^mcbuild: error ${code}: `));
  for (const p of patterns) expect(r.stderr).toMatch(p);
}

/** A model folder made by a real build, for the tests that damage a copy of it. */
let modelDir: string;
beforeAll(async () => {
  // uint16, so that the recipes on its copies (uint8) change its weights: a pass that changes none fails.
  writeText(join(dir, 'base.yaml'), tinyRecipe({ output: './base-out', passes: '  - quantize: { dtype: uint16 }' }));
  const r = await run([join(dir, 'base.yaml')]);
  expect(r.code, r.all).toBe(0);
  modelDir = join(dir, 'base-out');
});

function copyModel(name: string): string {
  const target = join(dir, name);
  mkdirSync(target, { recursive: true });
  for (const f of ['model.json', 'group1-shard1of1.bin'])
    writeFileSync(join(target, f), readFileSync(join(modelDir, f)));
  return target;
}

const fileRecipe = (modelPath: string, name: string) =>
  writeText(join(dir, `${name}.yaml`), tinyRecipe({ model: `  path: ${modelPath}`, output: `./${name}-out` }));

describe('recipe errors', () => {
  it('a missing recipe file', async () => {
    expectUsageError(await run(['nope.yaml']), 'MCB_RECIPE_NOT_FOUND', /recipe file nope\.yaml does not exist/);
  });

  it('a YAML syntax error names line and column', async () => {
    const f = writeText(join(dir, 'syntax.yaml'), 'version: 1\nname: x\nmodel: { path: [unclosed\n');
    expectUsageError(await run([f]), 'MCB_RECIPE_YAML', /syntax\.yaml:\d+:\d+: YAML error/);
  });

  /** 1-based line and column of the first occurrence of `needle` in `text`. */
  const where = (text: string, needle: string) => {
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes(needle));
    return `${line + 1}:${lines[line]!.indexOf(needle) + 1}`;
  };

  it('a schema violation points at the value with what is allowed', async () => {
    const text = tinyRecipe({ passes: '  - quantize: { bits: 3 }' });
    const f = writeText(join(dir, 'bits.yaml'), text);
    const at = where(text, '3 }');
    expectUsageError(
      await run([f]),
      'MCB_RECIPE_INVALID',
      new RegExp(`\`passes\\[0\\]\\.quantize\\.bits\` must be one of 2, 4, 8, 16 \\(got 3\\) at bits\\.yaml:${at}`),
    );
  });

  it('an unknown dataset', async () => {
    const text = tinyRecipe().replace('eval: { dataset: mnist', 'eval: { dataset: cifar10');
    const f = writeText(join(dir, 'ds.yaml'), text);
    const at = where(text, 'cifar10');
    expectUsageError(
      await run([f]),
      'MCB_RECIPE_INVALID',
      new RegExp(
        `\`data\\.eval\\.dataset\` must be one of "mnist", "images", "npy", "npz" \\(got "cifar10"\\) at ds\\.yaml:${at}`,
      ),
    );
  });
});

describe('model errors', () => {
  it('a model path that does not exist', async () => {
    expectUsageError(
      await run([fileRecipe('./missing/model.json', 'm1')]),
      'MCB_MODEL_NOT_FOUND',
      /missing\/model\.json does not exist/,
      /`model\.path` is set at m1\.yaml:4:9/,
    );
  });

  it('a model.json that is not a TF.js model', async () => {
    const d = join(dir, 'notmodel');
    writeText(join(d, 'model.json'), JSON.stringify({ hello: 'world' }));
    expectUsageError(
      await run([fileRecipe('./notmodel/model.json', 'm2')]),
      'MCB_MODEL_INVALID',
      /is not a TF\.js model\.json: it has no `modelTopology`/,
    );
  });

  it('a missing weight shard', async () => {
    const d = copyModel('noshard');
    writeFileSync(join(d, 'group1-shard1of1.bin'), '');
    const { rmSync } = await import('node:fs');
    rmSync(join(d, 'group1-shard1of1.bin'));
    expectUsageError(
      await run([fileRecipe('./noshard/model.json', 'm3')]),
      'MCB_MODEL_INVALID',
      /weight shard group1-shard1of1\.bin listed in .* is missing/,
    );
  });

  it('a weight shard of the wrong length', async () => {
    const d = copyModel('short');
    const bytes = readFileSync(join(d, 'group1-shard1of1.bin'));
    writeFileSync(join(d, 'group1-shard1of1.bin'), bytes.subarray(0, bytes.length - 10));
    expectUsageError(
      await run([fileRecipe('./short/model.json', 'm4')]),
      'MCB_MODEL_INVALID',
      /hold \d+ bytes but its weights need \d+/,
    );
  });

  it('a valid model file builds', async () => {
    copyModel('good');
    const r = await run([fileRecipe('./good/model.json', 'm5')]);
    expect(r.code, r.all).toBe(0);
    expect(r.stderr).toMatch(/\[run\]\s+baseline: load baseline model/);
  });
});

describe('output errors keep what was built', () => {
  it('an output path under a regular file', async () => {
    writeText(join(dir, 'afile'), 'x');
    const f = writeText(join(dir, 'o1.yaml'), tinyRecipe({ output: './afile/out' }));
    expectUsageError(await run([f]), 'MCB_OUTPUT', /afile is a file, not a folder/);
  });

  it('an output folder holding files mcbuild did not write is left alone', async () => {
    const target = join(dir, 'precious');
    writeText(join(target, 'thesis.txt'), 'do not delete');
    const f = writeText(join(dir, 'o2.yaml'), tinyRecipe({ output: './precious' }));
    expectUsageError(await run([f]), 'MCB_OUTPUT', /mcbuild did not write/);
    expect(readdirSync(target)).toEqual(['thesis.txt']);
  });

  it('a failed build leaves the previous output intact', async () => {
    const before = readFileSync(join(modelDir, 'model.json'));
    const f = writeText(
      join(dir, 'base.yaml'),
      tinyRecipe({ output: './base-out', passes: '  - quantize: { bits: 3 }' }),
    );
    expectUsageError(await run([f]), 'MCB_RECIPE_INVALID');
    expect(readFileSync(join(modelDir, 'model.json'))).toEqual(before);
    expect(readdirSync(dir).filter((n) => n.includes('mcbuild-new'))).toEqual([]);
  });
});

describe('usage errors', () => {
  it('an unknown flag', async () => {
    expectUsageError(
      await runCli(['--frobnicate']),
      'MCB_USAGE',
      /Unknown option '--frobnicate' for `mcbuild build`\. Run `mcbuild build --help` for its options\./,
    );
  });

  it('an unknown backend', async () => {
    expectUsageError(
      await runCli(['x.yaml', '--backend', 'tpu']),
      'MCB_USAGE',
      /--backend must be one of auto, tensorflow, wasm, cpu/,
    );
  });

  it('a thread count out of range', async () => {
    for (const bad of ['0', '9', '2.5', 'all'])
      expectUsageError(
        await runCli(['x.yaml', '--threads', bad]),
        'MCB_USAGE',
        /--threads must be a whole number from 1 to 8/,
      );
  });

  it('asking for tensorflow where tfjs-node is not installed', async () => {
    const f = writeText(join(dir, 'tf.yaml'), tinyRecipe());
    expectUsageError(await run([f, '--backend', 'tensorflow']), 'MCB_BACKEND', /npm install @tensorflow\/tfjs-node/);
  });
});
