/**
 * What the step cache promises when builds crash, run side by side, or meet damaged bytes — tried for real on
 * the built CLI with two tiny recipes that share their baseline, its evaluation and their first pass:
 *  - 4 processes building them at once on one cache compute every key exactly once (MCBUILD_STEP_LOG), all
 *    pass, and write the same outputs as builds on a cache of their own;
 *  - 50 builds killed with SIGKILL at seeded random moments across a build's whole duration leave no entry
 *    `cache verify` finds bad, never a half output folder, and the next build completes with the same bytes;
 *  - a flipped byte in the cache is caught on read: a warning, that step rebuilt, the same outputs.
 * Outputs are compared file by file except what records this machine's measurements: report.html, run.json and
 * the manifest that hashes them; report.json is compared without its latency figures.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gcCache } from '../../src/cache/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { BIN, listFiles, runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-crash-');
const MODEL = `  train:
    architecture: mlp
    options: { hidden: [8] }
    dataset: mnist
    limit: 200
    epochs: 1
    batchSize: 32
    seed: 7`;
const PRUNE = '  - prune: { method: magnitude, sparsity: 0.5 }';
const recipes = {
  a: writeText(
    join(dir, 'a.yaml'),
    tinyRecipe({
      model: MODEL,
      passes: `${PRUNE}\n  - quantize: { dtype: uint8 }`,
      thresholds: '  accuracy: { maxDrop: 0.5 }',
    }),
  ),
  b: writeText(
    join(dir, 'b.yaml'),
    tinyRecipe({
      model: MODEL,
      passes: `${PRUNE}\n  - quantize: { dtype: float16 }`,
      thresholds: '  accuracy: { maxDrop: 0.5 }',
    }),
  ),
};
type Name = keyof typeof recipes;
/** Output files that record this machine and moment, not the recipe's result. */
const MEASURED = new Set(['report.html', 'run.json', 'manifest.json', 'manifest.sig', 'signature.json']);
const reference: Record<Name, Map<string, string>> = { a: new Map(), b: new Map() };
let coldSeconds = 0;

/** An output folder as comparable text: each file's bytes (base64), report.json without latency. */
function comparable(out: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of listFiles(out).sort()) {
    const name = f.slice(out.length + 1);
    if (MEASURED.has(name)) continue;
    if (name === 'report.json') {
      const strip = (v: unknown): unknown =>
        Array.isArray(v)
          ? v.map(strip)
          : v && typeof v === 'object'
            ? Object.fromEntries(
                Object.entries(v)
                  .filter(([k]) => k !== 'latency')
                  .map(([k, x]) => [k, strip(x)]),
              )
            : v;
      files.set(name, JSON.stringify(strip(JSON.parse(readFileSync(f, 'utf8')))));
    } else files.set(name, readFileSync(f).toString('base64'));
  }
  return files;
}

function expectSameOutput(out: string, name: Name): void {
  const got = comparable(out);
  expect([...got.keys()]).toEqual([...reference[name].keys()]);
  for (const [file, bytes] of reference[name])
    expect(got.get(file), `${out}/${file} differs from the reference build's`).toBe(bytes);
}

interface StepLine {
  event: 'start' | 'done';
  key: string;
  step: string;
  pid: number;
}
const readStepLog = (file: string): StepLine[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StepLine);

const planKeys = async (name: Name): Promise<string[]> => {
  const r = await runCli(['plan', recipes[name], '--json'], { cwd: dir });
  expect(r.code, r.all).toBe(0);
  return (JSON.parse(r.stdout) as { steps: { key: string }[] }).steps.map((s) => s.key);
};

interface VerifyJson {
  checked: number;
  ok: number;
  removed: { key: string; reason: string }[];
  incomplete: number;
  locks: { live: unknown[]; stale: unknown[]; leftovers: number };
  sweep: { ran: boolean; tmpFiles: number };
}
const verify = async (cacheDir: string): Promise<VerifyJson> => {
  const r = await runCli(['cache', 'verify', '--cache-dir', cacheDir, '--json'], { cwd: dir });
  expect(r.code, r.all).toBe(0);
  return JSON.parse(r.stdout) as VerifyJson;
};

beforeAll(async () => {
  writeText(join(dir, 'package.json'), '{"name":"crash-e2e","private":true}');
  // The reference: each recipe built alone on a cache of its own. Recipe a's cold build also times a build.
  for (const name of ['a', 'b'] as const) {
    const r = await runCli(
      [recipes[name], '--cache-dir', join(dir, `ref-cache-${name}`), '--out', join(dir, `ref-${name}`)],
      { cwd: dir },
    );
    expect(r.code, r.all).toBe(0);
    if (name === 'a') coldSeconds = r.seconds;
    reference[name] = comparable(join(dir, `ref-${name}`));
  }
  expect(reference.a.has('model.json')).toBe(true);
});

describe('concurrent builds on one cache', () => {
  it('4 processes building overlapping recipes compute each key exactly once, pass, and match the reference', async () => {
    const cacheDir = join(dir, 'shared-cache');
    const log = join(dir, 'steps.jsonl');
    const order: Name[] = ['a', 'b', 'a', 'b'];
    const runs = await Promise.all(
      order.map((name, i) =>
        runCli([recipes[name], '--cache-dir', cacheDir, '--out', join(dir, `out-${i}`)], {
          cwd: dir,
          env: { MCBUILD_STEP_LOG: log },
        }),
      ),
    );
    for (const r of runs) expect(r.code, r.all).toBe(0);

    const keys = new Set([...(await planKeys('a')), ...(await planKeys('b'))]);
    expect(keys.size).toBe(7); // 5 + 5, sharing the baseline, its evaluation and the prune pass
    const lines = readStepLog(log);
    const starts = lines.filter((l) => l.event === 'start');
    // Every key once: no key computed twice, let alone at the same time.
    expect(starts.map((l) => l.key).sort()).toEqual([...keys].sort());
    const brief = (l: StepLine) => ({ event: l.event, key: l.key, step: l.step, pid: l.pid });
    for (const s of starts)
      expect(lines.filter((l) => l.key === s.key).map(brief)).toEqual([brief(s), { ...brief(s), event: 'done' }]);
    // And the others waited and said why, or found the step done.
    const waited = runs.filter((r) =>
      /\[wait\] +\S+: waiting for pid \d+, which is computing this step/.test(r.stderr),
    );
    expect(waited.length).toBeGreaterThan(0);

    const v = await verify(cacheDir);
    expect(v).toMatchObject({
      checked: 7,
      ok: 7,
      removed: [],
      incomplete: 0,
      locks: { live: [], stale: [], leftovers: 0 },
    });
    order.forEach((name, i) => expectSameOutput(join(dir, `out-${i}`), name));
    // Builds of one recipe on one cache share its measured latency too: their report.json is identical.
    expect(readFileSync(join(dir, 'out-0', 'report.json'), 'utf8')).toBe(
      readFileSync(join(dir, 'out-2', 'report.json'), 'utf8'),
    );
  });

  it('a flipped byte in a cached model is caught on read: a warning, that step rebuilt, the same outputs', async () => {
    const cacheDir = join(dir, 'shared-cache');
    // The final model's weights, as stored in the cache (the output holds the same bytes).
    const shard = readFileSync(join(dir, 'out-0', 'group1-shard1of1.bin'));
    const stored = listFiles(join(cacheDir, 'content-v2')).find(
      (f) => statSync(f).size === shard.byteLength && readFileSync(f).equals(shard),
    )!;
    expect(stored).toBeDefined();
    const bytes = readFileSync(stored);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(stored, bytes);

    const log = join(dir, 'flip.jsonl');
    const r = await runCli([recipes.a, '--cache-dir', cacheDir, '--out', join(dir, 'out-flip')], {
      cwd: dir,
      env: { MCBUILD_STEP_LOG: log },
    });
    expect(r.code, r.all).toBe(0);
    expect(r.stderr).toMatch(
      /warning: cache entry [0-9a-f]{12} is unusable \(its file group1-shard1of1\.bin is corrupt\); it will be rebuilt/,
    );
    expect(r.stderr).toMatch(/\[run\] +pass-2-quantize: .*cache entry was damaged/);
    expect(
      readStepLog(log)
        .filter((l) => l.event === 'start')
        .map((l) => l.step),
    ).toEqual(['pass-2-quantize']);
    expectSameOutput(join(dir, 'out-flip'), 'a');
    expect(await verify(cacheDir)).toMatchObject({ checked: 7, ok: 7, removed: [] });
  });

  it('cache verify finds and removes an entry whose metadata has a flipped byte; the next build stores it again', async () => {
    const cacheDir = join(dir, 'shared-cache');
    // A small JSON blob: some step's metrics. Flip a byte in the middle of the one holding an accuracy.
    const meta = listFiles(join(cacheDir, 'content-v2')).find(
      (f) => statSync(f).size < 20_000 && readFileSync(f, 'utf8').startsWith('{"accuracy"'),
    )!;
    expect(meta).toBeDefined();
    const bytes = readFileSync(meta);
    bytes[bytes.length >> 1]! ^= 0x01;
    writeFileSync(meta, bytes);
    const v = await verify(cacheDir);
    expect(v.checked).toBe(7);
    expect(v.removed).toEqual([
      { key: expect.stringMatching(/^[0-9a-f]{64}$/), reason: 'its metadata failed verification' },
    ]);
    expect(existsSync(meta)).toBe(false);
    for (const name of ['a', 'b'] as const) {
      const again = await runCli([recipes[name], '--cache-dir', cacheDir, '--out', join(dir, `out-meta-${name}`)], {
        cwd: dir,
      });
      expect(again.code, again.all).toBe(0);
      expectSameOutput(join(dir, `out-meta-${name}`), name);
    }
    expect(await verify(cacheDir)).toMatchObject({ checked: 7, ok: 7, removed: [] });
  });
});

describe('builds killed with SIGKILL', () => {
  it('50 kills at random moments, two builds at a time, leave no bad entry; the next build completes with byte-identical outputs', async () => {
    const cacheDir = join(dir, 'kill-cache');
    const log = join(dir, 'kill-steps.jsonl');
    const started = performance.now();
    // Kill delays span a whole cold build: twice the reference build's time (process start included), as two
    // builds share the machine, so some builds finish and the next ones start from what they stored.
    const spanMs = Math.max(1000, coldSeconds * 2000);
    // A lane's 25 builds last half the span each on average: twice that is the bound. It grows with the
    // measured build time, so a slower (busier) machine runs the same 50 iterations instead of failing.
    const budgetMs = Math.max(110_000, 25 * spanMs);
    const tally = { kills: 0, completed: 0, iterations: 0 };
    /**
     * One lane builds one recipe again and again, killing each build at a seeded random moment. The two lanes
     * run side by side on one cache and share three steps, so kills also hit lock holders while the other
     * lane waits. A lane whose build completed clears the cache (gc --max-size 0; the other lane's running
     * build keeps what it holds) so kills keep landing in steps being computed and stored.
     */
    const lane = async (name: Name, seed: number, iterations: number) => {
      const random = mulberry32(seed);
      const out = join(dir, `kill-out-${name}`);
      for (let i = 0; i < iterations; i++) {
        expect(performance.now() - started, `only ${tally.iterations} iterations within the time budget`).toBeLessThan(
          budgetMs,
        );
        const delay = Math.floor(random() * spanMs);
        const child = spawn(process.execPath, [BIN, recipes[name], '--cache-dir', cacheDir, '--out', out], {
          cwd: dir,
          env: { ...process.env, CI: 'true', NO_COLOR: '1', MCBUILD_STEP_LOG: log },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), delay);
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
          child.on('close', (c, s) => resolve([c, s])),
        );
        clearTimeout(timer);
        tally.iterations++;
        if (signal === 'SIGKILL') tally.kills++;
        else {
          // A build after any number of kills completes and writes what a clean build writes.
          expect(code, stderr).toBe(0);
          expect(stderr).not.toMatch(/warning: cache entry/);
          tally.completed++;
          // Not near the end: `cache verify` below must meet what the kills leave, not an empty cache.
          if (i < iterations - 6) await gcCache(cacheDir, { maxSize: 0 });
        }
        // The output folder is replaced whole: whenever it exists, it is a complete, correct one.
        if (existsSync(out)) expectSameOutput(out, name);
      }
    };
    await Promise.all([lane('a', 20261205, 25), lane('b', 5121620, 25)]);
    const seconds = (performance.now() - started) / 1000;
    expect(tally.iterations).toBe(50);
    expect(tally.kills).toBeGreaterThanOrEqual(25);
    const computed = readStepLog(log);

    const v = await verify(cacheDir);
    expect(v.removed, 'entries cache verify found bad after the kills').toEqual([]);
    expect(v.checked).toBe(v.ok);
    expect(v.locks.live).toEqual([]);
    // Every recipe then builds to the reference bytes, from whatever the kills left.
    for (const name of ['a', 'b'] as const) {
      const r = await runCli([recipes[name], '--cache-dir', cacheDir, '--out', join(dir, `final-${name}`)], {
        cwd: dir,
      });
      expect(r.code, r.all).toBe(0);
      expect(r.stderr).not.toMatch(/warning: cache entry/);
      expectSameOutput(join(dir, `final-${name}`), name);
    }
    expect((await verify(cacheDir)).removed).toEqual([]);
    // Half-written output folders a kill left beside the output: never taken for it, only litter.
    const strays = readdirSync(dir).filter((n) => n.includes('.mcbuild-')).length;
    console.log(
      `kill -9 loop: ${tally.iterations} builds (${tally.kills} killed, ${tally.completed} completed; ${computed.filter((l) => l.event === 'start').length} step starts, ${computed.filter((l) => l.event === 'done').length} stored) in ${seconds.toFixed(1)} s, kills within ${(spanMs / 1000).toFixed(1)} s of start; ` +
        `verify: ${v.checked} checked, ${v.removed.length} bad, ${v.locks.stale.length} stale locks and ${v.locks.leftovers} leftovers removed, ${v.sweep.tmpFiles} temporary files, ${v.incomplete} incomplete entries; ${strays} stray output folders`,
    );
  }, 480_000);
});
