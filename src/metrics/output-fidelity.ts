/**
 * Fidelity to the baseline for every output a model has: distances (cosine, relative errors) for all of
 * them, and classifier fidelity (agreement, top-k agreement, KL) only for outputs whose rows are class
 * distributions. The figures at the top are the worst over the outputs, so one limit covers every output;
 * per-output limits read `outputs`. Pure, engine-free.
 */
import { outputDistance, type OutputDistance } from './distance.js';
import { measureFidelity, type ClassifierFidelity } from './fidelity.js';

/** One output of a model over the eval samples in their order: `width` values per sample. */
export interface MeasuredOutput {
  name: string;
  width: number;
  values: Float32Array;
}

export interface OutputFidelity extends OutputDistance, Partial<ClassifierFidelity> {
  name: string;
  width: number;
  /** Whether its rows were read as class distributions, so that the classifier figures exist. */
  distribution: boolean;
}

export interface Fidelity extends OutputDistance, Partial<ClassifierFidelity> {
  outputs: OutputFidelity[];
}

/**
 * `classifier`: the name of an output known to be a classifier's (labelled data of that width), read as a
 * distribution even when it gives logits. Other outputs are distributions when every baseline row is one.
 */
export function measureOutputFidelity(
  baseline: readonly MeasuredOutput[],
  result: readonly MeasuredOutput[],
  opts: { classifier?: string } = {},
): Fidelity {
  const outputs = baseline.map((b, i): OutputFidelity => {
    const r = result[i];
    // Matched by position: a pass may rename the layer that gives an output (lowrank splits it in two).
    if (!r || r.width !== b.width)
      throw new Error(`fidelity: the result's output ${i} is not as wide as the baseline's ${b.name} (${b.width})`);
    const distribution = b.width > 1 && (b.name === opts.classifier || rowsAreDistributions(b.values, b.width));
    return {
      name: b.name,
      width: b.width,
      distribution,
      ...outputDistance(b.values, r.values, b.width),
      ...(distribution ? measureFidelity(b.values, r.values, b.width) : {}),
    };
  });
  return { ...worst(outputs), outputs };
}

/** Softmax outputs: every row non-negative and summing to 1 (to float32 rounding). */
export function rowsAreDistributions(values: Float32Array, width: number): boolean {
  if (width < 2 || values.length === 0) return false;
  for (let row = 0; row < values.length; row += width) {
    let sum = 0;
    for (let k = row; k < row + width; k++) {
      const v = values[k]!;
      if (!(v >= 0)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

type Figure = keyof OutputDistance | keyof ClassifierFidelity;
const HIGHER_IS_BETTER: Readonly<Record<Figure, boolean>> = {
  cosine: true,
  meanRelError: false,
  maxRelError: false,
  agreement: true,
  meanKl: false,
  topKAgreement: true,
};

/** Each figure's worst value over the outputs that have it. */
function worst(outputs: readonly OutputFidelity[]): OutputDistance & Partial<ClassifierFidelity> {
  const out: Partial<Record<Figure, number>> = {};
  for (const [figure, higher] of Object.entries(HIGHER_IS_BETTER) as [Figure, boolean][]) {
    for (const o of outputs) {
      const v = o[figure];
      if (v === undefined) continue;
      const w = out[figure];
      out[figure] = w === undefined ? v : higher ? Math.min(w, v) : Math.max(w, v);
    }
  }
  return { meanRelError: 0, maxRelError: 0, ...out };
}
