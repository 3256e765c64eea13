import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../runtime.js';
import type { ArchitectureContext } from './types.js';

/**
 * MobileNet v1 (Howard et al. 2017) sized for 28×28 inputs: the stem keeps full resolution (stride 1, not 2)
 * and three stride-2 depthwise-separable blocks take 28 → 14 → 7 → 4. Layer names follow Keras
 * (conv1, conv_dw_3, conv_pw_3_bn, …) so overrides read like the paper's tables.
 *
 * options: alpha (width multiplier, default 0.5), depthMultiplier (depthwise channel multiplier, default 1),
 * depth (extra 512α blocks at 4×4, default 1).
 */
/** Width multiplier when the options give none, also what width scaling (distill's `width`) starts from. */
export const MOBILENET_DEFAULT_ALPHA = 0.5;

export function buildMobilenetV1(tf: Tf, options: Record<string, unknown>, ctx: ArchitectureContext): TF.LayersModel {
  const alpha = (options.alpha as number | undefined) ?? MOBILENET_DEFAULT_ALPHA;
  const depthMultiplier = (options.depthMultiplier as number | undefined) ?? 1;
  const extra = (options.depth as number | undefined) ?? 1;
  const width = (c: number) => Math.max(8, Math.round(c * alpha));
  let seed = 0;
  const init = () => ctx.initializer(seed++);

  const input = tf.input({ shape: ctx.inputShape, name: 'input' });
  let x = convBnRelu(tf, input, 'conv1', width(32), 3, 1, init());
  const blocks: [number, number][] = [
    [64, 1],
    [128, 2],
    [128, 1],
    [256, 2],
    [256, 1],
    [512, 2],
    ...Array.from({ length: extra }, (): [number, number] => [512, 1]),
  ];
  blocks.forEach(([filters, stride], k) => {
    const id = k + 1;
    x = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        depthMultiplier,
        useBias: false,
        name: `conv_dw_${id}`,
        depthwiseInitializer: init(),
      })
      .apply(x) as TF.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `conv_dw_${id}_bn` }).apply(x) as TF.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6, name: `conv_dw_${id}_relu` }).apply(x) as TF.SymbolicTensor;
    x = convBnRelu(tf, x, `conv_pw_${id}`, width(filters), 1, 1, init());
  });
  x = tf.layers.globalAveragePooling2d({ name: 'global_pool' }).apply(x) as TF.SymbolicTensor;
  const output = tf.layers
    .dense({ units: ctx.numClasses, activation: 'softmax', name: 'predictions', kernelInitializer: init() })
    .apply(x) as TF.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'mobilenet_v1' });
}

/** conv → BatchNormalization → ReLU6, named `<name>`, `<name>_bn`, `<name>_relu` as in Keras. */
export function convBnRelu(
  tf: Tf,
  x: TF.SymbolicTensor,
  name: string,
  filters: number,
  kernelSize: number,
  strides: number,
  kernelInitializer: ReturnType<ArchitectureContext['initializer']>,
  opts: { relu?: boolean; bnName?: string; reluName?: string } = {},
): TF.SymbolicTensor {
  let y = tf.layers
    .conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, name, kernelInitializer })
    .apply(x) as TF.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: opts.bnName ?? `${name}_bn` }).apply(y) as TF.SymbolicTensor;
  if (opts.relu === false) return y;
  return tf.layers.reLU({ maxValue: 6, name: opts.reluName ?? `${name}_relu` }).apply(y) as TF.SymbolicTensor;
}
