/**
 * What the gate hands back, and the one shape every threshold takes on the way: a rule, judged on the
 * evidence (the metrics of baseline and result, and the latency step's interleaved timing).
 */
import type { Metrics } from '../metrics/index.js';
import type { LatencyComparison } from '../metrics/latency-compare.js';

export interface Check {
  /** `accuracy.maxDrop`, as written in the recipe's `thresholds`. */
  name: string;
  pass: boolean;
  measured: number;
  limit: number;
  /** One line a person reads: what was measured against what. */
  text: string;
}

export interface Verdict {
  pass: boolean;
  checks: Check[];
}

/** Everything a threshold is judged on. */
export interface Evidence {
  baseline: Metrics;
  result: Metrics;
  latency?: LatencyComparison | undefined;
}

/** A check before it is judged: what it is called, its limit, and how it reads the evidence. */
export interface Rule {
  name: string;
  limit: number;
  judge(e: Evidence): Judgement;
}

export type Judgement = Pick<Check, 'pass' | 'measured' | 'text'>;

/** Differences of floating-point metrics: a value exactly at the limit must pass. */
export const EPS = 1e-9;

export const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
