/** The CLI's own surface: help texts, version, colour, quiet/verbose/json, and the package's import name. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
const recipe = join(dir, 'r.yaml');
const cacheDir = join(dir, 'cache');

beforeAll(async () => {
  writeText(recipe, tinyRecipe());
  expect((await runCli([recipe, '--cache-dir', cacheDir])).code).toBe(0);
});

describe('help', () => {
  it('mcbuild --help lists every command with a summary and the exit codes', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['build', 'plan', 'validate', 'explain'])
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\s+\\S.+$`, 'm'));
    expect(r.stdout).toMatch(
      /Exit codes: 0 every threshold passed · 1 a threshold was missed · 2 bad recipe, input or usage · 3 internal error/,
    );
    expect((await runCli([])).stdout).toBe(r.stdout);
    expect((await runCli(['help'])).stdout).toBe(r.stdout);
  });

  it('each command has usage, options and examples', async () => {
    for (const c of ['build', 'plan', 'validate', 'explain']) {
      const r = await runCli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^mcbuild ${c} — .+\\n\\nUsage:\\n  mcbuild .*${c === 'build' ? '' : c}`));
      expect(r.stdout).toMatch(/\nOptions:\n(.+\n)+\nExamples:\n {2}mcbuild /);
      expect(r.stdout).toMatch(/--json\s+print machine-readable JSON on stdout/);
      expect((await runCli(['help', c])).stdout).toBe(r.stdout);
    }
  });

  it('build --help names watch mode and its keys are in the watch screen', async () => {
    const r = await runCli(['build', '--help']);
    expect(r.stdout).toMatch(
      /--watch\s+rebuild on every change to the recipes and the files they read \(--watch=force without a TTY\)/,
    );
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await runCli(['--version'])).stdout).toBe(`${pkg.version}\n`);
  });
});

describe('output modes', () => {
  it('colour follows FORCE_COLOR and NO_COLOR', async () => {
    const forced = await runCli([recipe, '--cache-dir', cacheDir], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
    // eslint-disable-next-line no-control-regex -- the ANSI colour escapes are what this test looks for
    expect(forced.stdout).toMatch(/\x1b\[32mPASS\x1b\[39m/);
    const plain = await runCli([recipe, '--cache-dir', cacheDir], { env: { NO_COLOR: '1' } });
    // eslint-disable-next-line no-control-regex -- no ANSI escape at all
    expect(plain.stdout).not.toMatch(/\x1b\[/);
  });

  it('--quiet prints the result only; --verbose adds key inputs of steps that run', async () => {
    const quiet = await runCli([recipe, '--cache-dir', cacheDir, '--quiet']);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toMatch(/verdict: PASS/);
    writeText(recipe, tinyRecipe({ passes: '  - quantize: { dtype: float16 }' }));
    const verbose = await runCli([recipe, '--cache-dir', cacheDir, '--verbose']);
    expect(verbose.stderr).toMatch(
      /key inputs: \{"cacheFormat":1,.*"pass":"quantize".*"options":\{"dtype":"float16","granularity":"per-tensor"\}/,
    );
  });

  it('--json gives the report, with what was cached and what ran', async () => {
    const r = await runCli([recipe, '--cache-dir', cacheDir, '--json']);
    expect(r.stderr).toBe('');
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({
      generator: 'mcbuild',
      verdict: 'pass',
      backend: 'wasm',
      ran: [],
      cached: ['baseline', 'eval-baseline', 'pass-1-quantize', 'eval-result'],
    });
    const v = JSON.parse((await runCli(['validate', recipe, '--json'])).stdout);
    expect(v).toEqual({ valid: true, recipes: [{ recipe, valid: true, steps: 4 }] });
  });

  it('validate exits 2 for a bad recipe among good ones and says which', async () => {
    const bad = writeText(join(dir, 'bad.yaml'), tinyRecipe({ passes: '  - quantize: { bits: 3 }' }));
    const r = await runCli(['validate', recipe, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/r\.yaml: valid \(4 steps, backend wasm\)/);
    expect(r.stderr).toMatch(
      /mcbuild: error MCB_RECIPE_INVALID: `passes\[0\]\.quantize\.bits` must be one of 2, 4, 8, 16 \(got 3\) at .*bad\.yaml:15:23/,
    );
  });

  it('plan --format dot and mermaid draw the DAG with gate and export', async () => {
    const dot = (await runCli(['plan', recipe, '--cache-dir', cacheDir, '--format', 'dot'])).stdout;
    expect(dot).toMatch(/^digraph "tiny" \{/);
    expect(dot).toMatch(/"baseline" -> "pass-1-quantize";/);
    expect(dot).toMatch(/"eval-result" -> "gate";/);
    const mermaid = (await runCli(['plan', recipe, '--cache-dir', cacheDir, '--format', 'mermaid'])).stdout;
    expect(mermaid).toMatch(/^flowchart LR\n/);
    expect(mermaid).toMatch(/pass_1_quantize --> eval_result/);
    expect(mermaid).toMatch(/baseline\["train baseline mlp<br\/>[0-9a-f]{12} \(cached\)"\]/);
    const bad = await runCli(['plan', recipe, '--format', 'svg']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format must be one of text, json, dot, mermaid \(got "svg"\)/);
  });
});

describe('start-up', () => {
  /**
   * The modules a CLI run loaded: CommonJS ones from require.cache, ES modules through a load hook. From dist/src
   * (one file per source module, so the checks can name them) unless `bundled`: then what users run, the chunks
   * of dist/bundle (scripts/bundle.ts).
   */
  async function loaded(args: string[], bundled = false): Promise<string[]> {
    const preload = join(dir, 'preload.cjs');
    const hooks = join(dir, 'hooks.mjs');
    const register = join(dir, 'register.mjs');
    writeText(
      preload,
      "process.on('exit', () => process.stderr.write(Object.keys(require.cache).map((f) => `LOADED ${f}\\n`).join('')));\n",
    );
    writeText(
      hooks,
      'export async function load(url, context, next) { process.stderr.write(`LOADED ${url}\\n`); return next(url, context); }\n',
    );
    writeText(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
    const r = await runCli(args, {
      env: { NODE_OPTIONS: `--require ${preload} --import ${register}`, MCBUILD_UNBUNDLED: bundled ? '0' : '1' },
    });
    expect(r.code).toBe(0);
    return r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => l.slice(7));
  }
  const packageOf = (file: string) => /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(file)?.[1];

  it('--version loads nothing of the CLI; plan loads no worker queue, terminal UI, watcher or schema compiler', async () => {
    const version = await loaded(['--version']);
    expect(version.filter((f) => f.includes('/dist/src/') && !f.endsWith('/dist/src/version.js'))).toEqual([]);
    const plan = await loaded(['plan', recipe, '--cache-dir', cacheDir]);
    // The load hook saw the plan's modules (the check below is not vacuous).
    expect(plan.some((f) => f.endsWith('/dist/src/pipeline/index.js'))).toBe(true);
    const packages = new Set(plan.map(packageOf));
    for (const p of ['bullmq', 'ioredis', 'listr2', 'chokidar', '@tensorflow/tfjs', '@tensorflow/tfjs-core'])
      expect(packages.has(p), p).toBe(false);
    // ajv's compiler stays unloaded: the recipe schema's validator was compiled at build time.
    expect(plan.filter((f) => /ajv\/dist\/(2020|core|compile)/.test(f))).toEqual([]);
  });

  /** Files of dist/src/<folder>/ among `files`, relative to dist/src/. */
  const ours = (files: string[], folder: string) =>
    files.map((f) => /\/dist\/src\/(.+)$/.exec(f)?.[1]).filter((f): f is string => !!f && f.startsWith(`${folder}/`));
  // What planning may load of a pass: its definition (meta, docs, options schema, option resolution, layersAfter).
  const DEFINITION = /^passes\/(define|index|[a-z-]+\/(index|docs|schema|options|plan|loss))\.js$/;
  // Loaded only when something runs: TF.js, the step cache's writer, the terminal UI, workers, the watcher.
  const RUN_ONLY = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', 'cacache', 'listr2', 'chokidar', 'bullmq', 'ioredis'];

  it('a cached plan or build loads no pass implementation, TF.js or cacache; a plan no gate, report or provenance', async () => {
    const [plan, build] = [
      await loaded(['plan', recipe, '--cache-dir', cacheDir]),
      await loaded([recipe, '--cache-dir', cacheDir]),
    ];
    for (const files of [plan, build]) {
      const passes = ours(files, 'passes');
      // The registry and every builtin pass's definition were loaded (the checks below are not vacuous) ...
      expect(passes).toEqual(expect.arrayContaining(['passes/index.js', 'passes/quantize/index.js']));
      // ... but no implementation: apply() imports it when a pass step runs, and every step was cached.
      expect(passes.filter((f) => !DEFINITION.test(f))).toEqual([]);
      const packages = new Set(files.map(packageOf));
      for (const p of RUN_ONLY) expect(packages.has(p), p).toBe(false);
      // k-means, SVD and friends are the passes' numerics (the reports' significance tests aside).
      expect(ours(files, 'algorithms').filter((f) => !f.startsWith('algorithms/significance/'))).toEqual([]);
      expect(packages.has('ml-matrix')).toBe(false);
    }
    // The build did run its report: the HTML renderer is there, the interactive progress renderer is not (no TTY).
    expect(ours(build, 'report')).toEqual(expect.arrayContaining(['report/html/page.js', 'report/progress-plain.js']));
    expect(ours(build, 'report')).not.toContain('report/progress-listr.js');
    // A plan runs nothing: neither the pipeline's run, nor the gate, reports or provenance.
    for (const folder of ['gate', 'report', 'provenance']) expect(ours(plan, folder), folder).toEqual([]);
    expect(ours(plan, 'pipeline')).not.toContain('pipeline/run.js');
  });

  it('runs the bundle: a cached plan or build reads a few dozen chunks and no TF.js, queue or terminal UI', async () => {
    for (const args of [
      ['plan', recipe, '--cache-dir', cacheDir],
      [recipe, '--cache-dir', cacheDir],
    ]) {
      const files = await loaded(args, true);
      const chunks = files.filter((f) => f.includes('/dist/bundle/'));
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.length).toBeLessThan(40);
      expect(files.filter((f) => f.includes('/dist/src/'))).toEqual([]);
      const packages = new Set(files.map(packageOf));
      for (const p of RUN_ONLY) expect(packages.has(p), p).toBe(false);
    }
  });
});

describe('programmatic API', () => {
  it("is importable by the package's name with build, plan and loadRecipe", () => {
    const script = `import('mcbuild').then(async (m) => {
      const r = await m.loadRecipe(${JSON.stringify(recipe)});
      const p = await m.plan(${JSON.stringify(recipe)}, { cacheDir: ${JSON.stringify(cacheDir)} });
      process.stdout.write(JSON.stringify([typeof m.build, r.name, p.plan.steps.length, p.cached.size]));
    })`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT }).toString(),
    );
    expect(out).toEqual(['function', 'tiny', 4, 4]);
  });
});
