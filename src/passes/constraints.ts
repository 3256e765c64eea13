/**
 * Invariants a training pass must keep so it does not undo an earlier pass: weights pruned to zero stay
 * zero (Zhu & Gupta; Deep Compression's retraining). Each constraint looks at the model as it arrives,
 * decides whether it applies, and re-imposes itself after every optimizer step through the training loop's
 * afterBatch hook.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../engine/runtime.js';

export interface Constraint {
  /** What is kept, for the pass's stats: e.g. "sparsity of 3 kernels". */
  describe: string;
  afterBatch(model: TF.LayersModel): void;
  dispose(): void;
}

/** Kernel weights of the layers compression passes act on: Dense, Conv2D and DepthwiseConv2D. */
export function compressibleKernels(model: TF.LayersModel): TF.LayerVariable[] {
  const out: TF.LayerVariable[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Dense' && cls !== 'Conv2D' && cls !== 'DepthwiseConv2D') continue;
    for (const w of layer.trainableWeights) if (/(^|\/)(depthwise_)?kernel$/.test(w.originalName)) out.push(w);
  }
  return out;
}

/** Keeps exact zeros of the incoming kernels at zero (a pruned model stays pruned while it trains). */
export function sparsityConstraint(tf: Tf, model: TF.LayersModel): Constraint | undefined {
  const masked: { variable: TF.LayerVariable; mask: TF.Tensor }[] = [];
  for (const variable of compressibleKernels(model)) {
    const mask = tf.tidy(() => tf.notEqual(variable.read(), 0).cast('float32'));
    const zeros = mask.size - (tf.tidy(() => mask.sum().dataSync()[0]) ?? 0);
    if (zeros > 0) masked.push({ variable, mask });
    else mask.dispose();
  }
  if (masked.length === 0) return undefined;
  return {
    describe: `sparsity of ${masked.length} kernel${masked.length === 1 ? '' : 's'}`,
    afterBatch: () => {
      for (const { variable, mask } of masked) {
        tf.tidy(() => {
          variable.write(tf.mul(variable.read(), mask));
        });
      }
    },
    dispose: () => masked.forEach((m) => m.mask.dispose()),
  };
}

/** Every constraint that applies to this model, composed; the passes that train call this once. */
export function modelConstraints(tf: Tf, model: TF.LayersModel): Constraint[] {
  return [sparsityConstraint(tf, model)].filter((c): c is Constraint => c !== undefined);
}
