import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../runtime.js';
import { convBnRelu, MOBILENET_DEFAULT_ALPHA } from './mobilenet-v1.js';
import type { ArchitectureContext } from './types.js';

/**
 * MobileNet v2 (Sandler et al. 2018) sized for 28×28 inputs: inverted residual blocks (1×1 expand → 3×3
 * depthwise → 1×1 linear project, with an Add when shapes allow), resolution 28 → 14 → 7 → 4. Layer names
 * follow Keras (block_2_expand, block_2_depthwise_BN, block_2_project, block_2_add, …).
 *
 * options: alpha (width multiplier, default 0.5), expansion (t, default 6), lastChannels (default 256).
 */
export function buildMobilenetV2(tf: Tf, options: Record<string, unknown>, ctx: ArchitectureContext): TF.LayersModel {
  const alpha = (options.alpha as number | undefined) ?? MOBILENET_DEFAULT_ALPHA;
  const expansion = (options.expansion as number | undefined) ?? 6;
  const lastChannels = (options.lastChannels as number | undefined) ?? 256;
  // Channel counts divisible by 8, as in the reference implementation (keeps SIMD-friendly widths).
  const width = (c: number) => Math.max(8, Math.round((c * alpha) / 8) * 8);
  let seed = 0;
  const init = () => ctx.initializer(seed++);

  const input = tf.input({ shape: ctx.inputShape, name: 'input' });
  let x = convBnRelu(tf, input, 'Conv1', width(32), 3, 1, init(), { bnName: 'bn_Conv1', reluName: 'Conv1_relu' });
  // [expansion, output channels, stride] per block; block 0 does not expand.
  const spec: [number, number, number][] = [
    [1, 16, 1],
    [expansion, 24, 2],
    [expansion, 24, 1],
    [expansion, 32, 2],
    [expansion, 32, 1],
    [expansion, 32, 1],
    [expansion, 64, 2],
    [expansion, 64, 1],
  ];
  let channels = width(32);
  spec.forEach(([t, c, stride], id) => {
    const out = width(c);
    const prefix = id === 0 ? 'expanded_conv' : `block_${id}`;
    let y = x;
    if (t !== 1) {
      y = convBnRelu(tf, y, `${prefix}_expand`, channels * t, 1, 1, init(), {
        bnName: `${prefix}_expand_BN`,
        reluName: `${prefix}_expand_relu`,
      });
    }
    y = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        useBias: false,
        name: `${prefix}_depthwise`,
        depthwiseInitializer: init(),
      })
      .apply(y) as TF.SymbolicTensor;
    y = tf.layers.batchNormalization({ name: `${prefix}_depthwise_BN` }).apply(y) as TF.SymbolicTensor;
    y = tf.layers.reLU({ maxValue: 6, name: `${prefix}_depthwise_relu` }).apply(y) as TF.SymbolicTensor;
    y = convBnRelu(tf, y, `${prefix}_project`, out, 1, 1, init(), { relu: false, bnName: `${prefix}_project_BN` });
    x =
      stride === 1 && channels === out
        ? (tf.layers.add({ name: `${prefix}_add` }).apply([x, y]) as TF.SymbolicTensor)
        : y;
    channels = out;
  });
  x = convBnRelu(tf, x, 'Conv_1', Math.max(lastChannels, width(lastChannels)), 1, 1, init(), {
    bnName: 'Conv_1_bn',
    reluName: 'out_relu',
  });
  x = tf.layers.globalAveragePooling2d({ name: 'global_pool' }).apply(x) as TF.SymbolicTensor;
  const output = tf.layers
    .dense({ units: ctx.numClasses, activation: 'softmax', name: 'predictions', kernelInitializer: init() })
    .apply(x) as TF.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'mobilenet_v2' });
}
