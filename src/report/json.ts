import { relative } from 'node:path';
import type { Execution } from '../execute/index.js';
import type { Check, Verdict } from '../gate/index.js';
import type { LatencyComparison, Metrics } from '../metrics/index.js';
import type { Plan } from '../plan/index.js';
import { findProjectRoot } from '../recipe/index.js';
import { MCBUILD_VERSION, packageVersion } from '../version.js';
import { buildWarnings, sizeSummary, type SizeSummary } from './warnings.js';

/**
 * The build's report. In memory (the table, report.html, comparisons) it is complete; written to report.json it
 * holds no timestamps, durations, cache hits, absolute paths or measured timings, so the same recipe on the
 * same backend writes the same bytes: splitReport (src/report/run.ts) moves `metrics.*.latency`,
 * `metrics.latencyComparison` and the latency checks' measurements to run.json, and readReport merges them back.
 */
export interface Report {
  generator: 'mcbuild';
  mcbuild: string;
  recipe: { name: string; file: string };
  /** Set for one variant of a matrix sweep. */
  variant?: { name: string; values: Record<string, unknown> };
  backend: string;
  versions: Record<string, string>;
  steps: { id: string; title: string; key: string }[];
  /** `latencyComparison`: both models timed interleaved, when a latency threshold asked for it. */
  metrics: { baseline: Metrics; result: Metrics; latencyComparison?: LatencyComparison };
  /** The source as stored, as float32, and the output (model.json plus shards); absent in older reports. */
  size?: SizeSummary;
  /**
   * Each pass's statistics, the tensors and parameters it changed (absent for entries cached before mcbuild
   * counted them) and, with overrides, the layers an override touched: options applied and where each was written.
   */
  passes: { id: string; stats: unknown; changed?: unknown; overridden?: unknown }[];
  /** What the build warned about: passes that changed nothing, an output bigger than its source; absent in older reports. */
  warnings?: string[];
  thresholds: Check[];
  verdict: 'pass' | 'fail';
  /** For a recipe with an `auto` option: the sensitivity scan, every trial, the chosen plan (src/search/search.ts). */
  search?: Record<string, unknown>;
}

export function buildReport(plan: Plan, exec: Execution, verdict: Verdict): Report {
  const pick = (m: Metrics): Metrics => ({
    // Absent when the eval data is label-free: the result's fidelity to the baseline stands in.
    ...(m.accuracy === undefined ? {} : { accuracy: m.accuracy }),
    ...(m.correct === undefined ? {} : { correct: m.correct }),
    count: m.count,
    sizeBytes: m.sizeBytes,
    gzipBytes: m.gzipBytes,
    brotliBytes: m.brotliBytes,
    files: m.files.map((f) => ({ name: f.name, bytes: f.bytes, gzip: f.gzip, brotli: f.brotli })),
    params: m.params,
    ...(m.nonZeroParams === undefined ? {} : { nonZeroParams: m.nonZeroParams }),
    ...(m.peakBytes === undefined ? {} : { peakBytes: m.peakBytes }),
    ...(m.topK === undefined ? {} : { topK: m.topK }),
    ...(m.perClass === undefined ? {} : { perClass: m.perClass }),
    ...(m.outputs === undefined ? {} : { outputs: m.outputs }),
    ...(m.fidelity === undefined ? {} : { fidelity: m.fidelity }),
    ...(m.paired === undefined ? {} : { paired: m.paired }),
    ...(m.macs === undefined ? {} : { macs: m.macs }),
    ...(m.flops === undefined ? {} : { flops: m.flops }),
    // Machine-dependent, stamped with when and where the eval step measured it: written to run.json, not report.json.
    ...(m.latency === undefined ? {} : { latency: m.latency }),
  });
  return {
    generator: 'mcbuild',
    mcbuild: MCBUILD_VERSION,
    recipe: {
      name: plan.recipe.name,
      file: relative(findProjectRoot(plan.recipe.file), plan.recipe.file).split('\\').join('/'),
    },
    ...(plan.recipe.variant ? { variant: plan.recipe.variant } : {}),
    backend: plan.backend,
    versions: { ...plan.packages, mnist: packageVersion('mnist') ?? 'missing' },
    steps: plan.steps.map((s) => ({ id: s.id, title: s.title, key: s.key })),
    metrics: {
      baseline: pick(exec.baseline),
      result: pick(exec.result),
      ...(exec.latency ? { latencyComparison: exec.latency } : {}),
    },
    size: sizeSummary(exec.baseline, exec.result),
    passes: plan.steps
      .filter((s) => s.spec.kind === 'pass')
      .map((s) => {
        const { overridden, changed } = exec.stepMeta[s.id] ?? {};
        return {
          id: s.id,
          stats: exec.stepMeta[s.id]?.stats ?? null,
          ...(changed === undefined ? {} : { changed }),
          ...(overridden === undefined ? {} : { overridden }),
        };
      }),
    warnings: buildWarnings(plan, exec),
    thresholds: verdict.checks,
    verdict: verdict.pass ? 'pass' : 'fail',
  };
}
