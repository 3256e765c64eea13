/**
 * `mcbuild cache ls | verify | gc` on the cache of a real tiny build. The project folder has a package.json,
 * so the default cache is found from a subfolder as well.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listFiles, runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const recipe = join(dir, 'tiny.yaml');

beforeAll(async () => {
  writeText(join(dir, 'package.json'), '{"name":"cache-e2e","private":true}');
  writeText(recipe, tinyRecipe());
  // No --cache-dir: the build uses cache/ at the project root, which `mcbuild cache` must find the same way.
  const r = await runCli([recipe], { cwd: dir });
  expect(r.code, r.all).toBe(0);
});

interface LsJson {
  cacheDir: string;
  entries: { key: string; sizeBytes: number; files: number; time: string; ageSeconds: number }[];
  incomplete: unknown[];
  totals: { entries: number; sizeBytes: number; incompleteEntries: number; incompleteBytes: number };
}

const lsJson = async (cwd = dir): Promise<LsJson> => {
  const r = await runCli(['cache', 'ls', '--json'], { cwd });
  expect(r.code, r.all).toBe(0);
  return JSON.parse(r.stdout) as LsJson;
};

describe('mcbuild cache', () => {
  it('--help shows usage, options and examples', async () => {
    const r = await runCli(['cache', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mcbuild cache — /);
    expect(r.stdout).toContain('mcbuild cache ls|verify|gc [--cache-dir DIR]');
    for (const opt of ['--cache-dir DIR', '--max-size SIZE', '--max-age AGE', '--dry-run', '--json'])
      expect(r.stdout).toContain(opt);
    expect(r.stdout).toContain('mcbuild cache gc --max-size 2GB --max-age 30d');
    const global = await runCli(['--help']);
    expect(global.stdout).toMatch(/^ {2}cache +list the step cache/m);
  });

  it("ls --json lists the build's entries with full keys, sizes and times", async () => {
    const ls = await lsJson(join(dir)); // default cache dir: <project root>/cache
    expect(ls.cacheDir).toBe(cacheDir);
    expect(ls.entries).toHaveLength(4);
    for (const e of ls.entries) {
      expect(e.key).toMatch(/^[0-9a-f]{64}$/);
      expect(e.sizeBytes).toBeGreaterThan(0);
      expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 10 * 60_000);
      expect(e.ageSeconds).toBeGreaterThanOrEqual(0);
    }
    // Two model steps (model.json and one shard) and two evaluations (metrics only).
    expect(ls.entries.map((e) => e.files).sort()).toEqual([1, 1, 2, 2]); // evals keep the model's outputs; models model.json + shard
    expect(ls.totals).toEqual({
      entries: 4,
      sizeBytes: ls.entries.reduce((n, e) => n + e.sizeBytes, 0),
      incompleteEntries: 0,
      incompleteBytes: 0,
    });
    // The plan's keys are the cache's keys.
    const plan = JSON.parse((await runCli(['plan', recipe, '--json'], { cwd: dir })).stdout) as {
      steps: { key: string }[];
    };
    expect(ls.entries.map((e) => e.key).sort()).toEqual(plan.steps.map((s) => s.key).sort());
  });

  it("ls finds the project's cache from a subfolder and prints a table with totals", async () => {
    const sub = join(dir, 'deep', 'er');
    writeText(join(sub, '.keep'), '');
    const r = await runCli(['cache', 'ls'], { cwd: sub });
    expect(r.code, r.all).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`cache ${cacheDir}`);
    expect(lines[1]).toMatch(/^key\s+size\s+age\s+files$/);
    expect(lines.slice(2, 6).every((l) => /^[0-9a-f]{12}\s+\d+(\.\d)? k?B\s+\d+[smhd]\s+[12]$/.test(l))).toBe(true);
    expect(lines[6]).toMatch(/^4 entries, \d+(\.\d+)? kB$/);
  });

  it('verify passes a sound cache, then finds and removes an entry with a flipped byte; the next build rebuilds it', async () => {
    const ok = await runCli(['cache', 'verify'], { cwd: dir });
    expect(ok.code, ok.all).toBe(0);
    expect(ok.stdout).toMatch(/4 entries checked, 4 ok, 0 removed/);
    expect(ok.stdout).toMatch(/The cache is consistent\./);

    // Flip one byte of the largest content file: the baseline's weights.
    const biggest = listFiles(join(cacheDir, 'content-v2')).sort(
      (a, b) => readFileSync(b).byteLength - readFileSync(a).byteLength,
    )[0]!;
    const bytes = readFileSync(biggest);
    bytes[bytes.length >> 1]! ^= 0x40;
    writeFileSync(biggest, bytes);
    const r = await runCli(['cache', 'verify', '--json'], { cwd: dir });
    expect(r.code, r.all).toBe(0);
    const v = JSON.parse(r.stdout) as {
      checked: number;
      ok: number;
      removed: { key: string; reason: string }[];
      consistent: boolean;
    };
    expect(v).toMatchObject({ checked: 4, ok: 3, consistent: true });
    expect(v.removed).toEqual([
      { key: expect.stringMatching(/^[0-9a-f]{64}$/), reason: 'its file group1-shard1of1.bin is corrupt' },
    ]);
    expect((await lsJson()).entries.map((e) => e.key)).not.toContain(v.removed[0]!.key);

    const rebuilt = await runCli([recipe], { cwd: dir });
    expect(rebuilt.code, rebuilt.all).toBe(0);
    expect(rebuilt.stderr).toMatch(/\[run\]/);
    expect((await lsJson()).entries).toHaveLength(4);
  });

  it('gc --dry-run lists and keeps; gc --max-size 0 removes everything; then ls is empty', async () => {
    const dry = await runCli(['cache', 'gc', '--max-size', '0', '--dry-run'], { cwd: dir });
    expect(dry.code, dry.all).toBe(0);
    expect(dry.stdout).toMatch(/dry run: nothing is removed/);
    expect(dry.stdout).toMatch(/would remove 4 entries \(max-size 0 B\)/);
    expect((await lsJson()).entries).toHaveLength(4);

    const r = await runCli(['cache', 'gc', '--max-size', '0', '--json'], { cwd: dir });
    expect(r.code, r.all).toBe(0);
    const gc = JSON.parse(r.stdout) as {
      removed: { reason: string }[];
      kept: { entries: number };
      reclaimedBytes: number;
      sweep: { ran: boolean };
    };
    expect(gc.removed.map((e) => e.reason)).toEqual(['max-size', 'max-size', 'max-size', 'max-size']);
    expect(gc.kept.entries).toBe(0);
    expect(gc.reclaimedBytes).toBeGreaterThan(10_000);
    expect(gc.sweep.ran).toBe(true);
    expect(listFiles(join(cacheDir, 'content-v2'))).toEqual([]);
    const ls = await runCli(['cache', 'ls'], { cwd: dir });
    expect(ls.stdout).toMatch(/no entries/);
  });

  it('gc without limits on an empty cache says what it did', async () => {
    const r = await runCli(['cache', 'gc', '--cache-dir', cacheDir]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(
      /no --max-size or --max-age: removing only stale leases, incomplete entries and unreferenced content/,
    );
    expect(r.stdout).toMatch(/removed 0 entries/);
  });

  it('bad input is one paragraph, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['cache', 'prune'], /`mcbuild cache` has no subcommand "prune": use ls .*, verify .* or gc/],
      [['cache'], /`mcbuild cache` needs ls, verify or gc/],
      [
        ['cache', 'gc', '--max-size', 'lots'],
        /--max-size must be a byte size such as 500MB, 2GB or 1\.5GiB \(got "lots"\)/,
      ],
      [['cache', 'gc', '--max-age', '30'], /--max-age must be a number and a unit: s, m, h, d or w/],
      [['cache', 'ls', '--max-age', '3d'], /--max-age only applies to `mcbuild cache gc`/],
      [
        ['cache', 'gc', '--cache-dir', dir, '--max-size', '0'],
        /is not an mcbuild cache: it has no index-v5\/ or content-v2\/ folder/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args, { cwd: dir });
      expect(r.code, r.all).toBe(2);
      expect(r.stderr).toMatch(/^mcbuild: error MCB_USAGE: /);
      expect(r.stderr).toMatch(pattern);
      expect(stackLines(r.stderr)).toEqual([]);
    }
  });
});
