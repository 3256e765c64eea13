import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../runtime.js';
import type { ArchitectureContext } from './types.js';

/**
 * LeNet-300-100 style multilayer perceptron (LeCun et al. 1998; the Deep Compression baseline):
 * flatten → fc_1 (300, relu) → fc_2 (100, relu) → predictions (softmax).
 */
/** Option defaults, also what width scaling (distill's `width`) starts from. */
export const MLP_DEFAULTS = { hidden: [300, 100] } as const;

export function buildMlp(tf: Tf, options: Record<string, unknown>, ctx: ArchitectureContext): TF.LayersModel {
  const hidden = (options.hidden as readonly number[] | undefined) ?? MLP_DEFAULTS.hidden;
  const layers: TF.layers.Layer[] = [tf.layers.flatten({ inputShape: ctx.inputShape, name: 'flatten' })];
  hidden.forEach((units, i) => {
    layers.push(
      tf.layers.dense({
        units,
        activation: 'relu',
        name: `fc_${i + 1}`,
        kernelInitializer: ctx.initializer(i),
        biasInitializer: 'zeros',
      }),
    );
  });
  layers.push(
    tf.layers.dense({
      units: ctx.numClasses,
      activation: 'softmax',
      name: 'predictions',
      kernelInitializer: ctx.initializer(hidden.length),
      biasInitializer: 'zeros',
    }),
  );
  return tf.sequential({ name: 'mlp', layers });
}
