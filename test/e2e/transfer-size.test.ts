/**
 * End-to-end: transfer sizes (gzip, brotli) of a real tiny build, checked against node:zlib on the exported
 * files, shown in the table and the markdown report, and gated through the CLI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, tinyRecipe, writeText, type CliRun } from '../helpers.js';

const dir = tempDir();
const cacheDir = join(dir, 'cache');
const recipe = join(dir, 'tiny.yaml');
const out = join(dir, 'out');
const build = () => runCli([recipe, '--cache-dir', cacheDir], { cwd: dir });
const report = () => JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
const summary = (r: CliRun) => /(\d+) steps, (\d+) cached, (\d+) run/.exec(r.stdout)?.slice(1).map(Number);

interface FileSize {
  name: string;
  bytes: number;
  gzip: number;
  brotli: number;
}

let first: CliRun;

/** model.json without `userDefinedMetadata.mcbuild.provenance`, which only the exported copy carries. */
function unstamped(bytes: Buffer): Buffer {
  const json = JSON.parse(bytes.toString('utf8'));
  delete json.userDefinedMetadata.mcbuild.provenance;
  if (Object.keys(json.userDefinedMetadata.mcbuild).length === 0) delete json.userDefinedMetadata.mcbuild;
  if (Object.keys(json.userDefinedMetadata).length === 0) delete json.userDefinedMetadata;
  return Buffer.from(JSON.stringify(json));
}

beforeAll(async () => {
  writeText(recipe, tinyRecipe()); // quantize to uint8
  first = await build();
});

describe('transfer sizes', () => {
  it('are what node:zlib gives for each exported file (gzip -9, brotli quality 5), summed', () => {
    expect(first.code, first.all).toBe(0);
    const result = report().metrics.result;
    const exported = readdirSync(out).filter((f) => f === 'model.json' || f.endsWith('.bin'));
    expect(result.files.map((f: FileSize) => f.name).sort()).toEqual(exported.sort());
    expect(result.files[0].name).toBe('model.json');
    for (const f of result.files as FileSize[]) {
      // The metrics measure the model as built; the exported model.json adds the provenance stamp (README).
      const data =
        f.name === 'model.json' ? unstamped(readFileSync(join(out, f.name))) : readFileSync(join(out, f.name));
      expect(f.bytes).toBe(data.byteLength);
      expect(f.gzip).toBe(gzipSync(data, { level: 9 }).byteLength);
      expect(f.brotli).toBe(brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).byteLength);
    }
    const sum = (k: keyof FileSize) => (result.files as FileSize[]).reduce((n, f) => n + (f[k] as number), 0);
    expect(result.sizeBytes).toBe(sum('bytes'));
    expect(result.gzipBytes).toBe(sum('gzip'));
    expect(result.brotliBytes).toBe(sum('brotli'));
  });

  it('of a uint8 model are smaller than its raw size; the float32 baseline is measured too', () => {
    const { baseline, result } = report().metrics;
    expect(result.gzipBytes).toBeLessThan(result.sizeBytes);
    expect(result.brotliBytes).toBeLessThan(result.sizeBytes);
    expect(baseline.gzipBytes).toBeLessThan(baseline.sizeBytes);
    expect(baseline.gzipBytes).toBeGreaterThan(result.gzipBytes);
    expect(baseline.files.map((f: FileSize) => f.name)).toEqual(['model.json', 'group1-shard1of1.bin']);
  });

  it('are rows of the terminal table and of the markdown report, in the style of size', async () => {
    expect(first.stdout).toMatch(/^size \(gzip\)\s+[\d.]+ kB\s+[\d.]+ kB\s+-[\d.]+ kB \([\d.]+x smaller\)$/m);
    expect(first.stdout).toMatch(/^size \(brotli\)\s+[\d.]+ kB\s+[\d.]+ kB\s+-[\d.]+ kB \([\d.]+x smaller\)$/m);
    const md = await runCli(['report', out, '--format', 'markdown'], { cwd: dir });
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^\| size \(gzip\) \| [\d.]+ kB \| [\d.]+ kB \| -[\d.]+ kB \([\d.]+x smaller\) \|$/m);
    expect(md.stdout).toMatch(/^\| size \(brotli\) \| [\d.]+ kB \| [\d.]+ kB \| -[\d.]+ kB \([\d.]+x smaller\) \|$/m);
  });

  it('gate the build: exactly the gzip size passes (exit 0), a byte less fails (exit 1); both re-gate from cache', async () => {
    const { gzipBytes, brotliBytes } = report().metrics.result;
    writeText(
      recipe,
      tinyRecipe({ thresholds: `  size: { maxGzipBytes: ${gzipBytes}, maxBrotliBytes: ${brotliBytes} }` }),
    );
    const ok = await build();
    expect(ok.code, ok.all).toBe(0);
    expect(summary(ok)).toEqual([4, 4, 0]);
    expect(ok.stdout).toMatch(
      /PASS\s+size\.maxGzipBytes: size with gzip is [\d.]+ kB \(\d+ bytes, 2 files compressed one by one\)/,
    );
    expect(ok.stdout).toMatch(/PASS\s+size\.maxBrotliBytes/);

    writeText(recipe, tinyRecipe({ thresholds: `  size: { maxGzipBytes: ${gzipBytes - 1} }` }));
    const tight = await build();
    expect(tight.code).toBe(1);
    expect(summary(tight)).toEqual([4, 4, 0]);
    expect(tight.stderr).toContain(`threshold missed: size.maxGzipBytes: size with gzip is`);
    expect(tight.stderr).toContain(`(${gzipBytes} bytes, 2 files compressed one by one); limit`);
    expect(tight.stderr).toContain(`(${gzipBytes - 1} bytes)`);
    const r = report();
    expect(r.verdict).toBe('fail');
    expect(r.thresholds).toEqual([
      expect.objectContaining({ name: 'size.maxGzipBytes', pass: false, measured: gzipBytes, limit: gzipBytes - 1 }),
    ]);

    writeText(recipe, tinyRecipe({ thresholds: '  size: { maxBrotliBytes: 1kB }' }));
    const brotli = await build();
    expect(brotli.code).toBe(1);
    expect(brotli.stderr).toMatch(
      /threshold missed: size\.maxBrotliBytes: size with brotli is [\d.]+ kB \(\d+ bytes, 2 files compressed one by one\); limit 1\.0 kB \(1000 bytes\)/,
    );
  });
});
