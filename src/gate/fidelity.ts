/**
 * `thresholds.fidelity`: limits on the result's closeness to the baseline, over every output (the worst
 * output's figure decides) or, under `outputs`, for one output by name. Classifier figures exist only for
 * outputs read as class distributions; a limit on a figure no output has fails saying why, and the planner
 * refuses the ones it can see are blind (KL on a one-wide output).
 */
import { showCosine, type OutputFidelity } from '../metrics/index.js';
import type { FidelityLimits } from '../recipe/index.js';
import { EPS, pct, type Rule } from './check.js';

type Limit = keyof FidelityLimits;

interface FidelityLimit {
  figure: 'agreement' | 'topKAgreement' | 'meanKl' | 'cosine' | 'meanRelError' | 'maxRelError';
  bound: 'min' | 'max';
  /** The figure as a person reads it. */
  show(v: number): string;
  what: string;
}

export const FIDELITY_LIMIT_TABLE: Readonly<Record<Limit, FidelityLimit>> = {
  minAgreement: { figure: 'agreement', bound: 'min', show: pct, what: "the result predicts the baseline's class on" },
  minTopKAgreement: {
    figure: 'topKAgreement',
    bound: 'min',
    show: pct,
    what: "the baseline's class is in the result's top k on",
  },
  maxMeanKl: {
    figure: 'meanKl',
    bound: 'max',
    show: (v) => `${v.toExponential(3)} nats`,
    what: 'mean KL(baseline ‖ result) is',
  },
  minCosine: { figure: 'cosine', bound: 'min', show: showCosine, what: 'mean cosine to the baseline is' },
  maxMeanRelError: {
    figure: 'meanRelError',
    bound: 'max',
    show: (v) => v.toExponential(3),
    what: "mean |Δ| relative to the output's range is",
  },
  maxRelError: {
    figure: 'maxRelError',
    bound: 'max',
    show: (v) => v.toExponential(3),
    what: "largest |Δ| relative to the output's range is",
  },
};

/** Why a figure can be missing, and what to gate with instead, for the failing check's text. */
export function blindness(figure: FidelityLimit['figure']): { why: string; instead: string } {
  switch (figure) {
    case 'agreement':
    case 'meanKl':
    case 'topKAgreement':
      return {
        why: `no output measured is a class distribution (rows of non-negative values summing to 1, or the first output with labelled data)${figure === 'topKAgreement' ? ' of more than 2 classes' : ''}`,
        instead: 'gate such outputs with minCosine, maxMeanRelError or maxRelError',
      };
    case 'cosine':
      return {
        why: 'every output measured is one value wide, where a cosine only tells a flipped sign',
        instead: 'use maxMeanRelError or maxRelError',
      };
    default:
      return { why: 'an evaluation from before mcbuild measured it', instead: 'rebuild' };
  }
}

/** The whole sentence: why, then what instead. */
export function blindBecause(figure: FidelityLimit['figure']): string {
  const { why, instead } = blindness(figure);
  return `${why}; ${instead}`;
}

/** `thresholds.fidelity.outputs.<name>.<limit>`: one rule each, in the recipe's order. */
export function outputRules(outputs: Readonly<Record<string, FidelityLimits>>): Rule[] {
  const rules: Rule[] = [];
  for (const [name, limits] of Object.entries(outputs)) {
    for (const [key, limit] of Object.entries(limits) as [Limit, number | undefined][]) {
      if (limit === undefined) continue;
      const l = FIDELITY_LIMIT_TABLE[key];
      rules.push({
        name: `fidelity.outputs.${name}.${key}`,
        limit,
        judge({ result }) {
          const outs = result.fidelity?.outputs;
          const out: OutputFidelity | undefined = outs?.find((o) => o.name === name);
          if (!out) {
            const text = outs
              ? `no output named ${name} was measured (the outputs are ${outs.map((o) => o.name).join(', ')})`
              : 'per-output fidelity was not measured (an evaluation from before mcbuild measured it); rebuild';
            return { pass: false, measured: Number.NaN, text };
          }
          const v = out[l.figure];
          if (v === undefined)
            return {
              pass: false,
              measured: Number.NaN,
              text: `${l.figure} is not measured on output ${name} (${out.width} wide${out.distribution ? '' : ', not a class distribution'}); ${blindness(l.figure).instead}`,
            };
          const pass = l.bound === 'min' ? v + EPS >= limit : v <= limit + EPS;
          return {
            pass,
            measured: v,
            text: `output ${name}: ${l.what} ${l.show(v)}${l.figure.endsWith('greement') ? ' of the samples' : ''}; ${l.bound === 'min' ? 'minimum' : 'limit'} ${l.show(limit)}`,
          };
        },
      });
    }
  }
  return rules;
}
