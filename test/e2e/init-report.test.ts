/**
 * `mcbuild init` and `mcbuild report` on the output of a real tiny build: init writes a recipe for the built
 * model that validates and builds; report prints the build's report.json again in three formats.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { asRunLog, mergeRun } from '../../src/report/run.js';
import { ROOT, runCli, stackLines, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const run = (args: string[], cwd = dir) => runCli([...args], { cwd });
const build = (file: string) => run([file, '--cache-dir', cacheDir]);
const modelDir = join(dir, 'base-out');

let first: CliRun;
beforeAll(async () => {
  // uint16, so that the uint8 the recipe `init` writes changes its weights: a pass that changes none fails.
  writeText(join(dir, 'base.yaml'), tinyRecipe({ output: './base-out', passes: '  - quantize: { dtype: uint16 }' }));
  first = await build(join(dir, 'base.yaml'));
  expect(first.code, first.all).toBe(0);
  // The same steps gated by a threshold no model meets: all cached, only the gate differs.
  writeText(
    join(dir, 'strict.yaml'),
    tinyRecipe({
      output: './strict-out',
      passes: '  - quantize: { dtype: uint16 }',
      thresholds: '  accuracy: { min: 0.999 }',
    }),
  );
  const strict = await build(join(dir, 'strict.yaml'));
  expect(strict.code, strict.all).toBe(1);
});

function expectUsageError(r: CliRun, code: string, pattern: RegExp) {
  expect(r.code, r.all).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^mcbuild: error ${code}: `));
  expect(r.stderr).toMatch(pattern);
  expect(stackLines(r.stderr)).toEqual([]);
}

describe('mcbuild report', () => {
  it('--help shows usage, formats and examples', async () => {
    const r = await run(['report', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mcbuild report — /);
    expect(r.stdout).toContain(
      'mcbuild report <output-dir | report.json> [<output-dir | report.json>] | <recipe.yaml> [--format text|json|markdown]',
    );
    expect(r.stdout).toMatch(/--format F\s+text \(default/);
    expect(r.stdout).toContain('--format markdown >> "$GITHUB_STEP_SUMMARY"');
  });

  it('text: the table the build printed, exit 0 for a pass', async () => {
    const r = await run(['report', 'base-out']);
    expect(r.code, r.all).toBe(0);
    const table = r.stdout.trimEnd();
    expect(table).toMatch(/^metric\s+baseline\s+result\s+delta\n/);
    expect(table).toMatch(/verdict: PASS \(backend wasm\)$/);
    // The build printed the same block.
    expect(first.stdout).toContain(table);
  });

  it('json: the report itself', async () => {
    const r = await run(['report', join('base-out', 'report.json'), '--format', 'json']);
    expect(r.code, r.all).toBe(0);
    // The full report: report.json with this run's latency from run.json merged back (src/report/run.ts).
    const written = JSON.parse(readFileSync(join(modelDir, 'report.json'), 'utf8'));
    const runLog = JSON.parse(readFileSync(join(modelDir, 'run.json'), 'utf8'));
    expect(written.metrics.result.latency).toBeUndefined();
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(mergeRun(written, asRunLog(runLog)))));
    expect(JSON.parse(r.stdout).metrics.result.latency).toEqual(runLog.latency.result);
    const viaFlag = await run(['report', 'base-out', '--json']);
    expect(viaFlag.stdout).toBe(r.stdout);
  });

  it('markdown: a GitHub table, thresholds with ✅/❌ and the verdict', async () => {
    const pass = await run(['report', 'base-out', '--format', 'markdown']);
    expect(pass.code, pass.all).toBe(0);
    const lines = pass.stdout.split('\n');
    expect(lines[0]).toBe('### mcbuild: tiny — ✅ PASS');
    expect(lines).toContain('| metric | baseline | result | delta |');
    expect(lines).toContain('| --- | ---: | ---: | ---: |');
    expect(pass.stdout).toMatch(/^\| accuracy \| \d+\.\d\d% \| \d+\.\d\d% \| [-+±][\d.]* ?(pp)? ?\|$/m);
    expect(pass.stdout).toMatch(/^\| size \| [\d.]+ kB \| [\d.]+ kB \| .*x smaller\) \|$/m);
    expect(pass.stdout).toMatch(/^- ✅ `accuracy\.maxDrop`: accuracy dropped by/m);
    expect(pass.stdout).toMatch(/^\*\*Verdict: ✅ PASS\*\* — recipe `base\.yaml`, backend wasm/m);

    const fail = await run(['report', 'strict-out', '--format', 'markdown']);
    expect(fail.code, fail.all).toBe(1);
    expect(fail.stdout).toMatch(/^### mcbuild: tiny — ❌ FAIL/);
    expect(fail.stdout).toMatch(/^- ❌ `accuracy\.min`: accuracy is [\d.]+%; minimum 99\.90%$/m);
    expect(fail.stdout).toMatch(/\*\*Verdict: ❌ FAIL\*\*/);
  });

  it('exits 1 for a failed build in every format', async () => {
    for (const f of ['text', 'json']) expect((await run(['report', 'strict-out', '--format', f])).code).toBe(1);
    expect((await run(['report', 'strict-out'])).stdout).toMatch(/FAIL\s+accuracy\.min/);
  });

  it('a missing or invalid report is exit 2 with a clear message', async () => {
    expectUsageError(
      await run(['report', 'nowhere']),
      'MCB_USAGE',
      /nowhere does not exist\. Pass the output folder of a build/,
    );
    writeText(join(dir, 'empty', '.keep'), '');
    expectUsageError(
      await run(['report', 'empty']),
      'MCB_USAGE',
      /empty holds no report\.json: it is not the output folder of an mcbuild build/,
    );
    writeText(join(dir, 'bad.json'), '{"generator": "mcbuild",');
    expectUsageError(
      await run(['report', 'bad.json']),
      'MCB_USAGE',
      /bad\.json is not an mcbuild report: it is not valid JSON/,
    );
    writeText(join(dir, 'other.json'), '{"hello": 1}');
    expectUsageError(
      await run(['report', 'other.json']),
      'MCB_USAGE',
      /other\.json is not an mcbuild report: it has no `"generator": "mcbuild"`/,
    );
    expectUsageError(
      await run(['report', 'base-out', '--format', 'html']),
      'MCB_USAGE',
      /--format must be one of text, json, markdown \(got "html"\)/,
    );
  });
});

describe('mcbuild init', () => {
  it('--help shows usage, options and examples', async () => {
    const r = await run(['init', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mcbuild init — /);
    expect(r.stdout).toContain('mcbuild init <model.json | model folder> [--out recipe.yaml] [--force]');
    expect(r.stdout).toMatch(/--out FILE\s+the recipe to write/);
    expect(r.stdout).toMatch(/-f, --force\s+overwrite/);
    expect(r.stdout).toContain('mcbuild init models/my-model/model.json');
  });

  it('writes a commented recipe for a built model that validates and builds (exit 0)', async () => {
    const r = await run(['init', 'base-out/model.json']);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/^wrote base-out\.yaml for base-out\/model\.json/);
    const file = join(dir, 'base-out.yaml');
    const text = readFileSync(file, 'utf8');
    const schema = relative(dir, join(ROOT, 'schema', 'recipe.schema.json'));
    expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schema}`);
    expect(text).toMatch(/^version: 1$/m);
    expect(text).toMatch(/^name: base-out-uint8 /m);
    expect(text).toMatch(/^ {2}path: \.\/base-out\/model\.json$/m);
    expect(text).toMatch(/^ {2}eval: \{ dataset: mnist, split: test \}/m);
    expect(text).toMatch(/^ {2}- quantize: \{ dtype: uint8 \}/m);
    expect(text).toMatch(/^ {2}# - quantize: \{ dtype: float16 \}/m);
    expect(text).toMatch(/^ {2}accuracy: \{ maxDrop: 0\.01 \}/m);
    expect(text).toMatch(/^ {2}# size: \{ maxBytes: /m);
    expect(text).toMatch(/^output: \.\/out\/base-out-uint8$/m);
    expect(text).not.toMatch(/may not fit/); // the tiny MLP takes [28, 28, 1]
    // The overrides example names the model's own layers with weights, and uncommented it is a valid block.
    expect(text).toMatch(
      /This model's layers with weights \(2\):\n# {3}fc_1 \(Dense\)\n# {3}predictions \(Dense\)\n# overrides:\n# {3}- layers: \[predictions\]/,
    );
    writeFileSync(
      join(dir, 'with-overrides.yaml'),
      text
        .replace('# overrides:\n#   - layers: [predictions]', 'overrides:\n  - layers: [predictions]')
        .replace('#     quantize: skip', '    quantize: skip'),
    );
    const withOverrides = await run(['validate', 'with-overrides.yaml', '--cache-dir', cacheDir]);
    expect(withOverrides.code, withOverrides.all).toBe(0);

    const valid = await run(['validate', file, '--cache-dir', cacheDir]);
    expect(valid.code, valid.all).toBe(0);
    const built = await build(file);
    expect(built.code, built.all).toBe(0);
    expect(built.stdout).toMatch(/verdict: PASS/);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'base-out-uint8', 'report.json'), 'utf8')).recipe.name).toBe(
      'base-out-uint8',
    );
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const file = join(dir, 'recipes', 'mine.yaml');
    expect((await run(['init', 'base-out', '--out', file])).code).toBe(0);
    writeText(file, '# my edits\n');
    expectUsageError(
      await run(['init', 'base-out', '--out', file]),
      'MCB_OUTPUT',
      /mine\.yaml already exists; `mcbuild init` does not overwrite it\. Pass --force/,
    );
    expect(readFileSync(file, 'utf8')).toBe('# my edits\n');
    const forced = await run(['init', 'base-out', '--out', file, '--force', '--json']);
    expect(forced.code, forced.all).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({
      recipe: file,
      model: join(modelDir, 'model.json'),
      name: 'base-out-uint8',
      inputShape: [null, 28, 28, 1],
      mnistFits: true,
    });
    const text = readFileSync(file, 'utf8');
    // Paths are relative to the recipe's folder.
    expect(text).toMatch(/^ {2}path: \.\.\/base-out\/model\.json$/m);
    // No package.json or .git above: the project root is the recipe's own folder, as for any recipe.
    expect(text).toMatch(/^output: \.\/out\/base-out-uint8$/m);
    expect((await run(['validate', file, '--cache-dir', cacheDir])).code).toBe(0);
  });

  it('checks the model before writing anything', async () => {
    expectUsageError(
      await run(['init', 'missing/model.json']),
      'MCB_MODEL_NOT_FOUND',
      /`mcbuild init` needs a TF\.js model: model file .*missing\/model\.json does not exist\. Pass the path of a model\.json/,
    );
    writeText(join(dir, 'notmodel', 'model.json'), '{"hello": "world"}');
    expectUsageError(
      await run(['init', 'notmodel']),
      'MCB_MODEL_INVALID',
      /is not a TF\.js model\.json: it has no `modelTopology`/,
    );
    expectUsageError(await run(['init', 'empty']), 'MCB_MODEL_NOT_FOUND', /the folder empty holds no model\.json/);
    expect((await run(['init', 'notmodel'])).code).toBe(2);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'notmodel.yaml'))).toBe(false);
  });
});
