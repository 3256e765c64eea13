import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../runtime.js';
import type { ArchitectureContext } from './types.js';

/**
 * LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, the second Deep Compression baseline:
 * conv_1 (6@5×5, same) → pool_1 → conv_2 (16@5×5, valid) → pool_2 → flatten → fc_1 (120) → fc_2 (84) → predictions.
 * `padding: valid` on conv_1 gives the Caffe LeNet (as in Deep Compression's LeNet-5) with filters [20, 50], hidden [500].
 */
/** Option defaults, also what width scaling (distill's `width`) starts from. */
export const LENET5_DEFAULTS = { filters: [6, 16], hidden: [120, 84] } as const;

export function buildLenet5(tf: Tf, options: Record<string, unknown>, ctx: ArchitectureContext): TF.LayersModel {
  const filters = (options.filters as readonly number[] | undefined) ?? LENET5_DEFAULTS.filters;
  const hidden = (options.hidden as readonly number[] | undefined) ?? LENET5_DEFAULTS.hidden;
  // valid: the Caffe LeNet Deep Compression used (28 → 24 → 12 → 8 → 4), with filters [20, 50], hidden [500].
  const padding = (options.padding as 'same' | 'valid' | undefined) ?? 'same';
  let i = 0;
  const init = () => ctx.initializer(i++);
  const layers: TF.layers.Layer[] = [
    tf.layers.conv2d({
      inputShape: ctx.inputShape,
      filters: filters[0]!,
      kernelSize: 5,
      padding,
      activation: 'relu',
      name: 'conv_1',
      kernelInitializer: init(),
    }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_1' }),
    tf.layers.conv2d({
      filters: filters[1]!,
      kernelSize: 5,
      padding: 'valid',
      activation: 'relu',
      name: 'conv_2',
      kernelInitializer: init(),
    }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'pool_2' }),
    tf.layers.flatten({ name: 'flatten' }),
    ...hidden.map((units, k) =>
      tf.layers.dense({ units, activation: 'relu', name: `fc_${k + 1}`, kernelInitializer: init() }),
    ),
    tf.layers.dense({ units: ctx.numClasses, activation: 'softmax', name: 'predictions', kernelInitializer: init() }),
  ];
  return tf.sequential({ name: 'lenet5', layers });
}
