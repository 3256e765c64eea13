/**
 * The run log (run.json): what one build measured on one machine at one moment. report.json must be the same
 * bytes for the same recipe on the same backend, so everything that depends on the machine or the clock is
 * split out of the in-memory Report into this file when the output folder is written, and merged back when a
 * folder is read (readReport), so the table, report.html and `mcbuild report` still show latency.
 *
 * Split out: metrics.{baseline,result}.latency and metrics.latencyComparison (timed passes, stamped with when
 * and where), the `measured` value and `text` of latency threshold checks (their name, limit and pass stay in
 * report.json), and the build's own facts (when, how long, which host, cache hits and misses).
 */
import { cpus, hostname } from 'node:os';
import type { Check } from '../gate/index.js';
import type { LatencyComparison, LatencyMetrics } from '../metrics/index.js';
import { MCBUILD_VERSION } from '../version.js';
import type { Report } from './json.js';

export const RUN_FILE = 'run.json';

export interface RunLog {
  generator: 'mcbuild';
  mcbuild: string;
  /** When the output folder was written (ISO 8601). */
  builtAt: string;
  /** Milliseconds from the start of the build (plan, execute, gate) to writing the folder. */
  durationMs: number;
  host: { hostname: string; platform: string; arch: string; cpu: string; cores: number; node: string };
  /** Step ids served from the cache and run by this build. */
  cache: { hits: string[]; misses: string[] };
  latency: { baseline?: LatencyMetrics; result?: LatencyMetrics; comparison?: LatencyComparison };
  /** The measured part of each latency threshold check, by check name (report.json keeps name, limit and pass). */
  thresholds: { name: string; measured: number; text: string }[];
}

/** A threshold whose measurement is a timing: its value and text vary from run to run. */
export const isMeasuredCheck = (c: Pick<Check, 'name'>): boolean => c.name.startsWith('latency.');

/** A latency check as report.json holds it. */
export type StableCheck = Omit<Check, 'measured' | 'text'> & Partial<Pick<Check, 'measured' | 'text'>>;

/**
 * Splits a full report into what report.json holds (machine- and moment-free) and what the run log holds.
 * `facts` are the build's own: when, how long, the cache's hits and misses.
 */
export function splitReport(
  report: Report,
  facts: { startedAt: Date; durationMs: number; hits: string[]; misses: string[] },
): { stable: Report; run: RunLog } {
  const { latency: bl, ...baseline } = report.metrics.baseline;
  const { latency: rl, ...result } = report.metrics.result;
  const comparison = report.metrics.latencyComparison;
  const stableChecks: StableCheck[] = report.thresholds.map((c) =>
    isMeasuredCheck(c) ? { name: c.name, pass: c.pass, limit: c.limit } : c,
  );
  const stable: Report = { ...report, metrics: { baseline, result }, thresholds: stableChecks as Check[] };
  const run: RunLog = {
    generator: 'mcbuild',
    mcbuild: MCBUILD_VERSION,
    builtAt: facts.startedAt.toISOString(),
    durationMs: Math.round(facts.durationMs),
    host: {
      hostname: hostname(),
      platform: process.platform,
      arch: process.arch,
      cpu: cpus()[0]?.model?.trim() ?? 'unknown',
      cores: cpus().length,
      node: process.version,
    },
    cache: { hits: facts.hits, misses: facts.misses },
    latency: { ...(bl ? { baseline: bl } : {}), ...(rl ? { result: rl } : {}), ...(comparison ? { comparison } : {}) },
    thresholds: report.thresholds
      .filter(isMeasuredCheck)
      .map((c) => ({ name: c.name, measured: c.measured, text: c.text })),
  };
  return { stable, run };
}

/**
 * The full report again from report.json and the run log beside it. Without a run log (copied away, or a
 * report from before mcbuild split it) latency is simply absent, and a latency check says where its
 * measurement went, so every renderer still has a line to print.
 */
export function mergeRun(report: Report, run: RunLog | undefined): Report {
  const measured = new Map((run?.thresholds ?? []).map((t) => [t.name, t]));
  const thresholds = report.thresholds.map((c) => {
    if (typeof c.text === 'string') return c;
    const m = measured.get(c.name);
    // NaN, as the gate writes for "not measured"; JSON wrote it as null.
    return {
      ...c,
      measured: typeof m?.measured === 'number' ? m.measured : Number.NaN,
      text:
        m?.text ?? `measured on the build machine; the measurement is in ${RUN_FILE}, which is not beside this report`,
    };
  });
  const l = run?.latency;
  return {
    ...report,
    metrics: {
      baseline: {
        ...report.metrics.baseline,
        ...(l?.baseline && report.metrics.baseline.latency === undefined ? { latency: l.baseline } : {}),
      },
      result: {
        ...report.metrics.result,
        ...(l?.result && report.metrics.result.latency === undefined ? { latency: l.result } : {}),
      },
      ...(report.metrics.latencyComparison
        ? { latencyComparison: report.metrics.latencyComparison }
        : l?.comparison
          ? { latencyComparison: l.comparison }
          : {}),
    },
    thresholds,
  };
}

/** A run log as read from disk, or undefined when it is not one (it is informative: a bad one is ignored). */
export function asRunLog(data: unknown): RunLog | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Partial<RunLog>;
  if (d.generator !== 'mcbuild' || typeof d.latency !== 'object' || d.latency === null || !Array.isArray(d.thresholds))
    return undefined;
  return d as RunLog;
}
