/**
 * The build's warnings and size summary, from its results alone: the warnings passes recorded in their step
 * meta, and an output whose weights are bigger than the source's, naming the passes that grew it. A sweep
 * variant that stopped at an empty pass is a failed row with its error, off the Pareto front.
 */
import { describe, expect, it } from 'vitest';
import type { Execution } from '../../src/execute/index.js';
import type { Metrics } from '../../src/metrics/index.js';
import type { Plan } from '../../src/plan/index.js';
import { buildWarnings, sizeSummary, summariseSweep, renderSweep, type Report } from '../../src/report/index.js';

const metrics = (weights: number, params: number): Metrics => ({
  count: 10,
  sizeBytes: 1000 + weights,
  gzipBytes: 0,
  brotliBytes: 0,
  files: [
    { name: 'model.json', bytes: 1000, gzip: 0, brotli: 0 },
    { name: 'group1-shard1of1.bin', bytes: weights, gzip: 0, brotli: 0 },
  ],
  params,
});

const step = (id: string, kind: string, inputs: string[]) => ({ id, spec: { kind }, inputs });
const plan = {
  steps: [
    step('baseline', 'load', []),
    step('pass-1-fold-batchnorm', 'pass', ['baseline']),
    step('pass-2-cluster', 'pass', ['pass-1-fold-batchnorm']),
  ],
} as unknown as Plan;

function execution(resultWeights: number): Execution {
  return {
    baseline: metrics(40_000, 38_000),
    result: metrics(resultWeights, 38_000),
    stepMeta: {
      baseline: { sizeBytes: 41_000 },
      'pass-1-fold-batchnorm': {
        sizeBytes: 41_000,
        warnings: ['the fold-batchnorm pass at r.yaml:8:21 changed nothing: x.'],
      },
      'pass-2-cluster': { sizeBytes: 1000 + resultWeights },
    },
  } as unknown as Execution;
}

describe('build warnings', () => {
  it('collect what passes recorded, and say which pass grew the weights', () => {
    const w = buildWarnings(plan, execution(150_000));
    expect(w[0]).toBe('the fold-batchnorm pass at r.yaml:8:21 changed nothing: x.');
    expect(w[1]).toMatch(
      /^the output's weights \(150\.0 kB\) are bigger than the source model's \(40\.0 kB\); grown by pass-2-cluster \(41\.0 kB → 151\.0 kB\)\./,
    );
    expect(buildWarnings(plan, execution(40_000))).toHaveLength(1);
  });

  it('size: source, float32 and output bytes', () => {
    expect(sizeSummary(metrics(40_000, 38_000), metrics(12_000, 38_000))).toEqual({
      sourceBytes: 41_000,
      float32Bytes: 1000 + 4 * 38_000,
      outputBytes: 13_000,
    });
  });
});

describe('a sweep with a variant that stopped at an empty pass', () => {
  it('is a failed row with its error, off the Pareto front; the others are ranked as before', () => {
    const report = { verdict: 'pass', metrics: { baseline: metrics(40_000, 1), result: metrics(10_000, 1) } };
    const sweep = summariseSweep({ name: 's', file: 's.yaml' }, { dtype: ['int8', 'float16'] }, 'best', [
      { name: 'dtype=int8', values: { dtype: 'int8' }, folder: 'dtype=int8', report: report as unknown as Report },
      {
        name: 'dtype=float16',
        values: { dtype: 'float16' },
        folder: 'dtype=float16',
        error: 'the quantize pass … changed no weight',
      },
    ]);
    expect(sweep.variants[1]).toEqual({
      name: 'dtype=float16',
      values: { dtype: 'float16' },
      folder: 'dtype=float16',
      verdict: 'fail',
      pareto: false,
      error: 'the quantize pass … changed no weight',
    });
    expect(sweep).toMatchObject({ pareto: ['dtype=int8'], best: 'dtype=int8', verdict: 'pass' });
    expect(renderSweep(sweep)).toContain('dtype=float16: the quantize pass … changed no weight');
  });
});
