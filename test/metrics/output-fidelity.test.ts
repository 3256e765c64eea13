/** Fidelity for outputs of any kind: distances for all, classifier figures for distributions, the worst on top. */
import { describe, expect, it } from 'vitest';
import { outputDistance, showCosine } from '../../src/metrics/distance.js';
import { measureFidelity } from '../../src/metrics/fidelity.js';
import { measureOutputFidelity, rowsAreDistributions } from '../../src/metrics/output-fidelity.js';

const f32 = (v: number[]) => new Float32Array(v);

describe('outputDistance', () => {
  it('cosine per sample, errors relative to the range of the baseline values', () => {
    // Two samples of 2: the first turned by 90°, the second scaled (same direction).
    const d = outputDistance(f32([1, 0, 2, 2]), f32([0, 1, 4, 4]), 2);
    expect(d.cosine).toBeCloseTo(0.5, 12); // (0 + 1) / 2
    // Range of the baseline: 2 − 0 = 2; |Δ| = 1, 1, 2, 2.
    expect(d.meanRelError).toBeCloseTo(6 / 4 / 2, 12);
    expect(d.maxRelError).toBeCloseTo(1, 12);
  });

  it('no cosine on one-wide outputs; a constant baseline falls back to its magnitude, then to 1', () => {
    const one = outputDistance(f32([3, 3]), f32([3, 4.5]), 1);
    expect(one.cosine).toBeUndefined();
    expect(one.maxRelError).toBeCloseTo(0.5, 12);
    expect(outputDistance(f32([0, 0]), f32([0, 0.25]), 1).maxRelError).toBe(0.25);
    expect(outputDistance(f32([0, 0, 0, 0]), f32([0, 0, 0, 0]), 2)).toEqual({
      cosine: 1,
      meanRelError: 0,
      maxRelError: 0,
    });
    expect(() => outputDistance(f32([1, 2, 3]), f32([1, 2, 3]), 2)).toThrow(/do not split/);
  });

  it('shows a cosine with the digits its distance from 1 needs', () => {
    expect(showCosine(0.5)).toBe('0.5000');
    expect(showCosine(0.99999231)).toBe('0.99999231');
    expect(showCosine(1)).toBe('1.0000');
  });
});

describe('measureOutputFidelity', () => {
  it('top-k agreement counts the baseline class within the result top k', () => {
    // 4 classes → k = 3. Sample 1: baseline class 0 is the result's lowest → outside the top 3.
    const b = f32([0.7, 0.1, 0.1, 0.1, 0.1, 0.6, 0.2, 0.1]);
    const r = f32([0.1, 0.3, 0.3, 0.3, 0.1, 0.2, 0.6, 0.1]);
    expect(measureFidelity(b, r, 4)).toMatchObject({ agreement: 0, topKAgreement: 0.5 });
    expect(measureFidelity(f32([0.6, 0.4]), f32([0.4, 0.6]), 2).topKAgreement).toBeUndefined();
  });

  it('classifier figures only for distributions (or the named classifier), worst of each figure on top', () => {
    const probs = { name: 'probs', width: 2, values: f32([0.9, 0.1, 0.2, 0.8]) };
    const emb = { name: 'emb', width: 3, values: f32([1, 2, 3, -1, 0, 1]) };
    const logits = { name: 'logits', width: 2, values: f32([3, -1, -2, 2]) };
    expect(rowsAreDistributions(probs.values, 2)).toBe(true);
    expect(rowsAreDistributions(emb.values, 3)).toBe(false);
    const f = measureOutputFidelity(
      [probs, emb, logits],
      [
        { ...probs, values: f32([0.4, 0.6, 0.2, 0.8]) },
        { ...emb, values: f32([1, 2, 3, 1, 0, -1]) },
        { ...logits, values: f32([3, -1, -2, 2]) },
      ],
      { classifier: 'logits' },
    );
    const [p, e, l] = f.outputs;
    expect(p).toMatchObject({ distribution: true, agreement: 0.5 });
    expect(e!.distribution).toBe(false);
    expect(e!.agreement).toBeUndefined();
    expect(e!.cosine).toBeCloseTo(0, 12); // 1 and −1
    expect(l).toMatchObject({ distribution: true, agreement: 1, meanKl: 0, maxRelError: 0 });
    expect(f.agreement).toBe(0.5);
    expect(f.cosine).toBe(Math.min(p!.cosine!, e!.cosine!, l!.cosine!));
    expect(f.maxRelError).toBe(Math.max(p!.maxRelError, e!.maxRelError, l!.maxRelError));
    expect(f.meanKl).toBe(p!.meanKl);
  });

  it('refuses outputs that are not as wide on both sides; names may differ', () => {
    const a = { name: 'a', width: 2, values: f32([1, 2]) };
    expect(() => measureOutputFidelity([a], [{ ...a, width: 1 }])).toThrow(/not as wide as the baseline's a/);
    // A renamed output (lowrank's `<name>_lr2`) is the same output: matched by position, named as the baseline's.
    expect(measureOutputFidelity([a], [{ ...a, name: 'a_lr2' }]).outputs[0]!.name).toBe('a');
  });
});
