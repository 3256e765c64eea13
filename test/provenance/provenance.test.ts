/**
 * The pieces of provenance and the run log without a build: the model.json stamp, splitting a report into
 * report.json and run.json and merging it back, and verify's refusal of a manifest that points elsewhere.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf, stampModelJson, stampOf, verifyOutput } from '../../src/provenance/index.js';
import type { Report } from '../../src/report/index.js';
import { mergeRun, splitReport } from '../../src/report/run.js';
import { tempDir } from '../helpers.js';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;

describe('stampModelJson', () => {
  it('adds the digest beside what passes recorded, and keeps every other member', () => {
    const json = {
      format: 'layers-model',
      modelTopology: { a: 1 },
      weightsManifest: [],
      userDefinedMetadata: { mine: true, mcbuild: { prunedWeights: ['k'] } },
    };
    const stamped = dec(stampModelJson(enc(json), digestOf(new Uint8Array([1]))));
    expect(stamped.userDefinedMetadata).toEqual({
      mine: true,
      mcbuild: { prunedWeights: ['k'], provenance: digestOf(new Uint8Array([1])) },
    });
    expect(stampOf(stamped)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect({ ...stamped, userDefinedMetadata: json.userDefinedMetadata }).toEqual(json);
    expect(stampOf(dec(stampModelJson(enc({ modelTopology: {} }), 'sha256:x')))).toBe('sha256:x');
  });
});

describe('splitReport / mergeRun', () => {
  const latency = {
    batches: [{ batchSize: 1, medianMs: 1, minMs: 1, runs: 5 }],
    warmupRuns: 1,
    backend: 'cpu',
    measuredAt: '2026-01-01T00:00:00.000Z',
    cores: 2,
    cpu: 'x',
  };
  const metrics = { count: 1, sizeBytes: 1, gzipBytes: 1, brotliBytes: 1, files: [], params: 1 };
  const report = {
    generator: 'mcbuild',
    mcbuild: '0',
    recipe: { name: 'r', file: 'r.yaml' },
    backend: 'cpu',
    versions: {},
    steps: [],
    passes: [],
    verdict: 'pass',
    metrics: { baseline: { ...metrics, latency }, result: { ...metrics, latency } },
    thresholds: [
      { name: 'size.maxBytes', pass: true, measured: 1, limit: 2, text: 'size is 1' },
      { name: 'latency.maxMs', pass: true, measured: 1, limit: 5, text: 'median 1 ms' },
    ],
  } as Report;

  it('moves timings and latency measurements to the run log and merges them back exactly', () => {
    const { stable, run } = splitReport(report, {
      startedAt: new Date(0),
      durationMs: 12.4,
      hits: ['a'],
      misses: ['b'],
    });
    expect(stable.metrics.result.latency).toBeUndefined();
    expect(stable.thresholds).toEqual([report.thresholds[0], { name: 'latency.maxMs', pass: true, limit: 5 }]);
    expect(run).toMatchObject({
      builtAt: '1970-01-01T00:00:00.000Z',
      durationMs: 12,
      cache: { hits: ['a'], misses: ['b'] },
      thresholds: [{ name: 'latency.maxMs', measured: 1, text: 'median 1 ms' }],
    });
    expect(mergeRun(stable, run)).toEqual(report);
  });

  it('without a run log, a latency check still has a line that says where its measurement went', () => {
    const { stable } = splitReport(report, { startedAt: new Date(0), durationMs: 0, hits: [], misses: [] });
    const merged = mergeRun(stable, undefined);
    expect(merged.thresholds[1]!.text).toMatch(/run\.json, which is not beside this report/);
    expect(merged.thresholds[1]!.measured).toBeNaN();
    expect(merged.metrics.result.latency).toBeUndefined();
  });
});

describe('verifyOutput', () => {
  it('refuses a manifest whose file names leave the folder (exit 2), rather than reading there', async () => {
    const dir = join(tempDir(), 'out');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        generator: 'mcbuild',
        mcbuild: '0',
        files: [{ name: '../secret', sha256: 'x', size: 1 }],
        unattested: [],
      }),
    );
    await expect(verifyOutput(dir)).rejects.toMatchObject({
      code: 'MCB_USAGE',
      exitCode: 2,
      message: expect.stringMatching(/is not an mcbuild manifest/),
    });
  });
});
