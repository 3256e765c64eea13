/**
 * The sensitivity scan and the accuracy-driven search end to end, on a tiny MLP trained on real MNIST with
 * real TF.js (wasm), one cache for the file so the baseline trains once: a search that finds no passing plan
 * leaves an earlier searched recipe alone and builds the closest plan instead of the start; a passing search
 * keeps its record (search.json) beside the searched recipe; Ctrl-C keeps a passing plan found so far;
 * maxSeconds bounds the scan; `--variant` builds one variant without touching the sweep's summary; and the
 * `sensitivity` command's output folder, candidate checks and messages, and its scan of a repeated pass.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSet } from '../../src/build/index.js';
import { McbError } from '../../src/errors.js';
import { runCli, tempDir, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-search-e2e-');
const cacheDir = join(dir, 'cache');

/** One baseline for every test here (same model block, so one training in the shared cache). */
const MODEL =
  '{ architecture: mlp, options: { hidden: [32, 16] }, dataset: mnist, limit: 1000, epochs: 2, batchSize: 32, seed: 5 }';
const recipe = (name: string, body: string, model = MODEL) => `version: 1
name: ${name}
model:
  train: ${model}
data:
  eval: { dataset: mnist, split: test, limit: 300 }
${body}`;

interface SearchReport {
  verdict: string;
  outputDir: string;
  metrics: { result: { sizeBytes: number; accuracy: number } };
  search: {
    chosen: Record<string, unknown> | null;
    fallback?: string;
    fallbackSettings?: Record<string, unknown>;
    recipe: string | null;
    record: string | null;
    stoppedBecause: string;
    sensitivity: { layers: unknown[]; stopped?: string };
    trials: { move: string; sizeBytes: number; pass: boolean; kept: boolean }[];
  };
}

const SEARCH = 'passes:\n  - quantize: { bits: auto, candidates: [8, 4, 2], budget: thresholds, maxTrials: 6 }\n';

describe('search', () => {
  it('a search that finds no passing plan leaves an earlier searched recipe untouched and says so', async () => {
    const file = writeText(
      join(dir, 'none.yaml'),
      recipe('none', `${SEARCH}thresholds:\n  accuracy: { min: 0.999 }\noutput: ./out/none\n`),
    );
    const earlier = '# an earlier good plan\nversion: 1\n';
    writeText(join(dir, 'none.searched.yaml'), earlier);
    const run = await runCli([file, '--cache-dir', cacheDir]);
    expect(run.code, run.all).toBe(1);
    expect(run.all).toMatch(/no plan passes the thresholds/);
    expect(readFileSync(join(dir, 'none.searched.yaml'), 'utf8')).toBe(earlier);
    expect(existsSync(join(dir, 'none.search.json'))).toBe(false);
    const report = JSON.parse(readFileSync(join(dir, 'out', 'none', 'report.json'), 'utf8')) as SearchReport;
    expect(report.search.chosen).toBeNull();
    expect(report.search.recipe).toBeNull();
    expect(report.search.stoppedBecause).toBe('nothing passes');
    // The start missed an accuracy threshold: nothing held it, so there is no fallback and the start is built.
    expect(report.search.fallback).toBeUndefined();
    expect(report.search.trials).toHaveLength(1);
    expect(existsSync(join(dir, 'out', 'none', 'recipe.searched.yaml'))).toBe(false);
  });

  it('when only size fails, the build is the smallest plan that held the accuracy thresholds, not the start', async () => {
    const file = writeText(
      join(dir, 'small.yaml'),
      recipe(
        'small',
        `${SEARCH}thresholds:\n  accuracy: { maxDrop: 0.5 }\n  size: { maxBytes: 100 }\noutput: ./out/small\n`,
      ),
    );
    const run = await runCli([file, '--cache-dir', cacheDir, '--json']);
    expect(run.code, run.all).toBe(1);
    const report = JSON.parse(run.stdout) as SearchReport;
    expect(report.verdict).toBe('fail');
    expect(report.search.chosen).toBeNull();
    expect(report.search.fallback).toBe('smallest plan that holds the accuracy thresholds');
    expect(Object.keys(report.search.fallbackSettings!).length).toBeGreaterThan(0);
    const start = report.search.trials[0]!;
    expect(start.move).toMatch(/^start/);
    expect(start.kept).toBe(true);
    const held = report.search.trials.filter((t) => t.kept);
    expect(report.metrics.result.sizeBytes).toBe(Math.min(...held.map((t) => t.sizeBytes)));
    expect(report.metrics.result.sizeBytes).toBeLessThan(start.sizeBytes);
    expect(existsSync(join(dir, 'small.searched.yaml'))).toBe(false);
  });

  it('Ctrl-C during a search keeps the passing plan found so far, then stops without building', async () => {
    const file = writeText(
      join(dir, 'stop.yaml'),
      recipe('stop', `${SEARCH}thresholds:\n  accuracy: { maxDrop: 0.5 }\noutput: ./out/stop\n`),
    );
    const controller = new AbortController();
    const labels: string[] = [];
    const built = buildSet(file, {
      cacheDir,
      signal: controller.signal,
      onSearch: (label) => {
        labels.push(label);
        // The start (trial 1) passes this loose gate; stop as the second trial begins.
        if (label.startsWith('trial 2')) controller.abort();
      },
    });
    await expect(built).rejects.toSatisfy((e) => e instanceof McbError && e.code === 'MCB_CANCELLED');
    expect(labels.some((l) => l.startsWith('trial 3'))).toBe(false);
    expect(readFileSync(join(dir, 'stop.searched.yaml'), 'utf8')).toMatch(/^# Written by mcbuild's search/);
    const record = JSON.parse(readFileSync(join(dir, 'stop.search.json'), 'utf8')) as SearchReport['search'];
    expect(record.chosen).not.toBeNull();
    expect(record.trials.length).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(dir, 'out', 'stop'))).toBe(false);
  });

  it('maxSeconds bounds the scan too: a search past its time after the reference stops with maxSeconds', async () => {
    // A model of its own, trained inside the scan's reference trial: well over a second.
    const file = writeText(
      join(dir, 'slow.yaml'),
      recipe(
        'slow',
        'passes:\n  - quantize: { bits: auto, candidates: [8, 4, 2], maxSeconds: 1 }\nthresholds:\n  accuracy: { maxDrop: 0.5 }\noutput: ./out/slow\n',
        MODEL.replace('seed: 5', 'seed: 6').replace('epochs: 2', 'epochs: 4'),
      ),
    );
    const run = await runCli([file, '--cache-dir', cacheDir, '--json']);
    expect(run.code, run.all).toBe(0);
    const report = JSON.parse(run.stdout) as SearchReport;
    expect(report.search.stoppedBecause).toBe('maxSeconds');
    expect(report.search.sensitivity.stopped).toBe('deadline');
    expect(report.search.sensitivity.layers).toEqual([]);
    // Only the start was tried: it is what the build after the search builds anyway (from cache here).
    expect(report.search.trials.map((t) => t.move)).toEqual(['start: every layer at bits 8']);
    expect(report.search.chosen).toEqual({});
  });

  it('a matrix search writes search.json per variant, and --variant builds one variant leaving sweep.json alone', async () => {
    const file = writeText(
      join(dir, 'm.yaml'),
      recipe(
        'm',
        `matrix:\n  drop: [0.02, 0.5]\n${SEARCH}thresholds:\n  accuracy: { maxDrop: "\${{ matrix.drop }}" }\noutput: ./out/m\n`,
      ),
    );
    const sweep = await runCli([file, '--cache-dir', cacheDir]);
    expect(sweep.code, sweep.all).toBeLessThanOrEqual(1);
    const sweepFile = join(dir, 'out', 'm', 'sweep.json');
    const before = readFileSync(sweepFile);
    const mtime = statSync(sweepFile).mtimeMs;
    expect((JSON.parse(before.toString()) as { variants: unknown[] }).variants).toHaveLength(2);

    const one = await runCli([file, '--cache-dir', cacheDir, '--variant', 'drop=0.5', '--json']);
    expect(one.code, one.all).toBe(0);
    const report = JSON.parse(one.stdout) as SearchReport & { sweepFile?: string };
    expect(report.sweepFile).toBeUndefined();
    expect(report.outputDir).toBe(join(dir, 'out', 'm', 'drop-0.5'));
    expect(report.search.recipe).toBe('m.drop-0.5.searched.yaml');
    expect(report.search.record).toBe('m.drop-0.5.search.json');
    expect(readFileSync(sweepFile).equals(before)).toBe(true);
    expect(statSync(sweepFile).mtimeMs).toBe(mtime);

    // The search's record, beside the searched recipe: it outlives rebuilds of the output folder.
    const record = JSON.parse(readFileSync(join(dir, 'm.drop-0.5.search.json'), 'utf8')) as {
      variant: string;
      chosen: Record<string, unknown>;
      trials: unknown[];
      sensitivity: {
        reference: { accuracy: number };
        layers: { layer: string; trials: { value: number; accuracy: number; sizeBytes: number }[] }[];
      };
    };
    expect(record.variant).toBe('drop=0.5');
    expect(record.chosen).toEqual(report.search.chosen);
    expect(record.trials).toEqual(report.search.trials);
    expect(record.sensitivity.layers.map((l) => l.layer)).toEqual(['fc_1', 'fc_2', 'predictions']);
    expect(record.sensitivity.layers[0]!.trials.map((t) => t.value)).toEqual([8, 4, 2]);
    expect(existsSync(join(dir, 'm.drop-0.02.search.json'))).toBe(true);
  });
});

describe('sensitivity', () => {
  const scan = writeText(
    join(dir, 'scan.yaml'),
    recipe('scan', 'passes:\n  - quantize: { dtype: uint8 }\n  - encode: {}\noutput: ./out/scan\n'),
  );

  it('--out an existing folder writes <output>.sensitivity.json inside it; an unwritable --out is exit 2 before the scan, with no .tmp left', async () => {
    const folder = join(dir, 'scans');
    mkdirSync(folder);
    const run = await runCli(['sensitivity', scan, '--cache-dir', cacheDir, '--candidates', '8,2', '--json']);
    expect(run.code, run.all).toBe(0);
    const inFolder = await runCli([
      'sensitivity',
      scan,
      '--cache-dir',
      cacheDir,
      '--candidates',
      '8,2',
      '--out',
      folder,
    ]);
    expect(inFolder.code, inFolder.all).toBe(0);
    expect(readdirSync(folder)).toEqual(['scan.sensitivity.json']);
    expect(
      (JSON.parse(readFileSync(join(folder, 'scan.sensitivity.json'), 'utf8')) as { layers: unknown[] }).layers,
    ).toHaveLength(3);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // A path below a file: not writable.
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'x');
    const bad = await runCli([
      'sensitivity',
      scan,
      '--cache-dir',
      cacheDir,
      '--candidates',
      '8,2',
      '--out',
      join(blocker, 'x.json'),
    ]);
    expect(bad.code, bad.all).toBe(2);
    expect(bad.stderr).toMatch(
      /MCB_OUTPUT.*cannot write the sensitivity scan to .*blocker.*is a file, not a folder.*--out/,
    );
    expect(bad.all).not.toMatch(/reference:/); // refused before the scan's first trial
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses candidates the recipe schema refuses, naming the command line (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--candidates', '8,3'],
        /`passes\[0\]\.quantize\.bits` must be one of 2, 4, 8, 16 \(got 3\) at the command line \(--candidates 8,3\)/,
      ],
      [['--candidates', '8,1e1'], /\(got "1e1"\) at the command line \(--candidates 8,1e1\)/],
      [['--candidates', '8,-4'], /\(got -4\) at the command line/],
      [
        ['--option', 'dtype', '--candidates', 'int8,uint9'],
        /`passes\[0\]\.quantize\.dtype` must be one of .*\(got "uint9"\) at the command line \(--candidates int8,uint9\)/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(['sensitivity', scan, '--cache-dir', cacheDir, ...args]);
      expect(run.code, run.all).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  it('names a bad --option before asking for candidates, and says a pass with no per-layer option has nothing to scan', async () => {
    const option = await runCli(['sensitivity', scan, '--cache-dir', cacheDir, '--option', 'bitz']);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(
      /--option bitz: the quantize pass takes dtype, bits, .* per layer \(did you mean `bits`\?\)/,
    );
    const encode = await runCli(['sensitivity', scan, '--cache-dir', cacheDir, '--pass', 'encode']);
    expect(encode.code).toBe(2);
    expect(encode.stderr).toMatch(/the encode pass \(passes\[1\]\) takes only `skip` per layer.*nothing to scan/);
    expect(encode.stderr).not.toMatch(/one of none/);
  });

  it('scanning the second of two prune entries measures against the recipe up to it, the first prune and finetune included', async () => {
    const data =
      'data:\n  eval: { dataset: mnist, split: test, limit: 300 }\n  train: { dataset: mnist, split: train, limit: 1000 }\n';
    const head = (name: string) => recipe(name, '').replace(/data:\n.*\n$/, data);
    const twice = writeText(
      join(dir, 'twice.yaml'),
      `${head('twice')}passes:\n  - prune: { sparsity: 0.5 }\n  - finetune: { epochs: 1 }\n  - prune: { sparsity: 0.5 }\noutput: ./out/twice\n`,
    );
    const once = writeText(
      join(dir, 'once.yaml'),
      `${head('once')}passes:\n  - prune: { sparsity: 0.5 }\n  - finetune: { epochs: 1 }\noutput: ./out/once\n`,
    );
    const built = await runCli([once, '--cache-dir', cacheDir, '--json']);
    expect(built.code, built.all).toBe(0);
    const result = (JSON.parse(built.stdout) as { metrics: { result: { accuracy: number; gzipBytes: number } } })
      .metrics.result;
    const run = await runCli([
      'sensitivity',
      twice,
      '--cache-dir',
      cacheDir,
      '--pass',
      '2',
      '--candidates',
      '0.5,0.9',
      '--json',
    ]);
    expect(run.code, run.all).toBe(0);
    const s = JSON.parse(run.stdout) as {
      pass: { index: number; name: string };
      reference: { accuracy: number; gzipBytes: number };
      layers: unknown[];
    };
    expect(s.pass).toEqual({ index: 2, name: 'prune' });
    // The same model as prune → finetune: the scan's skip reaches passes[2] only, not the first prune too.
    expect(s.reference.accuracy).toBe(result.accuracy);
    expect(s.reference.gzipBytes).toBe(result.gzipBytes);
    expect(s.layers).toHaveLength(3);
  });
});
