/**
 * The shorthand blocks of `thresholds` (`accuracy`, `fidelity`, `size`, and the counts `params`,
 * `nonZeroParams`, `macs`, `flops`) as rules: each limit is a (named metric, limit kind) pair judged by the
 * one comparison (./limit.ts), in its own words, or a special reading (./accuracy.ts) where two numbers do
 * not tell. Checks come in this table's order, whatever the recipe's.
 */
import type { OutputFidelity } from '../metrics/index.js';
import type { MetricLimit } from '../metrics/named.js';
import type { Thresholds } from '../recipe/index.js';
import { formatBytes } from '../util/bytes.js';
import { labelled, perClassRule, significanceRule, unlabelledRules } from './accuracy.js';
import { pct, type Evidence, type Rule } from './check.js';
import { limitRule, type Reading } from './limit.js';
import { blindBecause, FIDELITY_LIMIT_TABLE, outputRules } from './fidelity.js';
import { withThousands } from '../util/text.js';

type Block = 'accuracy' | 'fidelity' | 'size' | CountKey;
type CountKey = 'params' | 'nonZeroParams' | 'macs' | 'flops';

interface Shorthand {
  block: Block;
  option: string;
  /** A limit on a named metric, and how to say what it found. */
  plain?: {
    metric: string;
    kind: MetricLimit;
    say(v: Reading, e: Evidence): string;
    /** Said when the metric was not measured (sizes always are). */
    missing?: string | ((e: Evidence) => string);
  };
  /** A reading of more than two numbers; it takes the limit's place when it returns a rule. */
  special?(limit: number, t: Thresholds): Rule | undefined;
}

const COUNTS: readonly (readonly [CountKey, string])[] = [
  ['params', 'parameters'],
  ['nonZeroParams', 'non-zero parameters'],
  ['macs', 'MACs per sample'],
  ['flops', 'FLOPs per sample'],
];
const count = withThousands;

/** Transfer sizes: the sum of each exported file compressed on its own, as a server sends them. */
const transfer =
  (what: string) =>
  ({ result: r, limit: l }: Reading, { result }: Evidence): string =>
    `size with ${what} is ${formatBytes(r)} (${r} bytes, ${result.files.length} ${result.files.length === 1 ? 'file' : 'files'} compressed one by one); limit ${formatBytes(l)} (${l} bytes)`;

const SHORTHANDS: readonly Shorthand[] = [
  {
    block: 'accuracy',
    option: 'maxDrop',
    special: (l, t) => (t.accuracy?.significance ? significanceRule(l, t.accuracy.significance) : undefined),
    plain: {
      metric: 'accuracy',
      kind: 'maxDrop',
      say: ({ baseline: b, result: r, measured, limit: l }) =>
        `accuracy dropped by ${pct(measured)} (baseline ${pct(b)} → result ${pct(r)}); limit ${pct(l)}`,
    },
  },
  {
    block: 'accuracy',
    option: 'maxRelativeDrop',
    plain: {
      metric: 'accuracy',
      kind: 'maxRelativeDrop',
      say: ({ baseline: b, result: r, measured, limit: l }) =>
        `accuracy dropped by ${pct(measured)} of the baseline (${pct(b)} → ${pct(r)}); limit ${pct(l)}`,
    },
  },
  {
    block: 'accuracy',
    option: 'min',
    plain: {
      metric: 'accuracy',
      kind: 'min',
      say: ({ result: r, limit: l }) => `accuracy is ${pct(r)}; minimum ${pct(l)}`,
    },
  },
  {
    block: 'accuracy',
    option: 'topKMaxDrop',
    plain: {
      metric: 'topKAccuracy',
      kind: 'maxDrop',
      say: ({ baseline: b, result: r, measured, limit: l }, e) =>
        `top-${e.result.topK!.k} accuracy dropped by ${pct(measured)} (${pct(b)} → ${pct(r)}); limit ${pct(l)}`,
      missing:
        'top-k accuracy was not measured (2 classes, or an evaluation from before mcbuild measured it); rebuild or remove the threshold',
    },
  },
  { block: 'accuracy', option: 'perClassMaxDrop', special: (l) => perClassRule(l) },
  ...Object.entries(FIDELITY_LIMIT_TABLE).map(([option, l]): Shorthand => ({
    block: 'fidelity',
    option,
    plain: {
      metric: l.figure,
      kind: l.bound,
      say: ({ result: r, limit }, e) =>
        `${l.what} ${l.show(r)}${l.figure.endsWith('greement') ? ' of the samples' : ''}${worstOf(e, l.figure, r)}; ${l.bound === 'min' ? 'minimum' : 'limit'} ${l.show(limit)}`,
      missing: (e) =>
        e.result.fidelity?.outputs
          ? `${l.figure} was not measured: ${blindBecause(l.figure)}`
          : 'fidelity was not measured (an evaluation from before mcbuild measured it); rebuild or remove the threshold',
    },
  })),
  {
    block: 'size',
    option: 'maxBytes',
    plain: {
      metric: 'sizeBytes',
      kind: 'max',
      say: ({ result: r, limit: l }) => `size is ${formatBytes(r)} (${r} bytes); limit ${formatBytes(l)} (${l} bytes)`,
    },
  },
  { block: 'size', option: 'maxGzipBytes', plain: { metric: 'gzipBytes', kind: 'max', say: transfer('gzip') } },
  { block: 'size', option: 'maxBrotliBytes', plain: { metric: 'brotliBytes', kind: 'max', say: transfer('brotli') } },
  {
    block: 'size',
    option: 'minRatio',
    plain: {
      metric: 'sizeBytes',
      kind: 'minRatio',
      say: ({ baseline: b, result: r, measured, limit: l }) =>
        `compression ratio is ${measured.toFixed(2)}x (${formatBytes(b)} → ${formatBytes(r)}); minimum ${l}x`,
    },
  },
  // Counts of the result model: parameters, non-zero parameters, MACs, FLOPs.
  ...COUNTS.flatMap(([key, what]): Shorthand[] => {
    const missing = `${what} were not measured (a graph model has no topology to count, or the evaluation predates it); remove the threshold`;
    return [
      {
        block: key,
        option: 'max',
        plain: {
          metric: key,
          kind: 'max',
          say: ({ result: r, limit: l }) => `${count(r)} ${what}; limit ${count(l)}`,
          missing,
        },
      },
      {
        block: key,
        option: 'minRatio',
        plain: {
          metric: key,
          kind: 'minRatio',
          say: ({ baseline: b, result: r, measured, limit: l }) =>
            `${measured.toFixed(2)}x fewer ${what} (${count(b)} → ${count(r)}); minimum ${l}x`,
          missing,
        },
      },
    ];
  }),
];

/** The rules of the shorthand blocks, in the table's order. */
export function shorthandRules(t: Thresholds, e: Evidence): Rule[] {
  const rules: Rule[] = [];
  // Label-free eval data has no accuracy: each accuracy limit then fails, saying why, in the recipe's order.
  const readable = labelled(e.baseline, e.result);
  if (t.accuracy && !readable) rules.push(...unlabelledRules(t.accuracy));
  for (const s of SHORTHANDS) {
    if (s.block === 'accuracy' && !readable) continue;
    const limit = (t[s.block] as Readonly<Record<string, unknown>> | undefined)?.[s.option];
    if (typeof limit !== 'number') continue;
    const special = s.special?.(limit, t);
    if (special) rules.push(special);
    else if (s.plain) {
      rules.push(
        limitRule({
          name: `${s.block}.${s.option}`,
          limit,
          ...s.plain,
          missing: s.plain.missing ?? `${s.plain.metric} was not measured; rebuild or remove the threshold`,
        }),
      );
    }
  }
  if (t.fidelity?.outputs) rules.push(...outputRules(t.fidelity.outputs));
  return rules;
}

/** Over several outputs the figure is the worst one's: say which. */
function worstOf(e: Evidence, figure: keyof OutputFidelity, value: number): string {
  const outs = e.result.fidelity?.outputs ?? [];
  const worst = outs.find((o) => o[figure] === value);
  return outs.length > 1 && worst ? ` (output ${worst.name}, the worst of ${outs.length})` : '';
}
