import { McbError } from '../../errors.js';
import type { Tf } from '../runtime.js';
import { buildLenet5 } from './lenet5.js';
import { buildMlp } from './mlp.js';
import { buildMobilenetV1 } from './mobilenet-v1.js';
import { buildMobilenetV2 } from './mobilenet-v2.js';
import type { ArchitectureBuilder } from './types.js';

interface Architecture {
  build: ArchitectureBuilder;
  /** Smallest input height/width the architecture's convolutions and pools can take, with these options. */
  minSide: (options: Record<string, unknown>) => number;
}

/** The builtin architectures; their options are validated by the schema (`$defs/train`). */
const ARCHITECTURES: Record<string, Architecture> = {
  mlp: { build: buildMlp, minSide: () => 1 },
  // 5×5 same conv, pool /2, 5×5 valid conv, pool /2: needs at least 12 pixels for one output; 16 with a valid conv_1.
  lenet5: { build: buildLenet5, minSide: (o) => (o.padding === 'valid' ? 16 : 12) },
  // Three stride-2 stages: 8 pixels keep a 1×1 map at the end.
  'mobilenet-v1': { build: buildMobilenetV1, minSide: () => 8 },
  'mobilenet-v2': { build: buildMobilenetV2, minSide: () => 8 },
};

export const ARCHITECTURE_NAMES = Object.keys(ARCHITECTURES);
export { LENET5_DEFAULTS } from './lenet5.js';
export { MLP_DEFAULTS } from './mlp.js';
export { MOBILENET_DEFAULT_ALPHA } from './mobilenet-v1.js';

/** Why an architecture cannot take inputs of this shape, or undefined when it can. Engine-free, for planning. */
export function architectureMisfit(
  name: string,
  inputShape: readonly number[],
  options: Record<string, unknown> = {},
): string | undefined {
  const arch = ARCHITECTURES[name];
  if (!arch) return `unknown architecture ${JSON.stringify(name)}; known: ${ARCHITECTURE_NAMES.join(', ')}`;
  const minSide = arch.minSide(options);
  if (minSide > 1) {
    if (inputShape.length !== 3)
      return `${name} takes images [height, width, channels], but the data has samples of shape [${inputShape.join(', ')}]`;
    const side = Math.min(inputShape[0]!, inputShape[1]!);
    if (side < minSide)
      return `${name} needs images of at least ${minSide}×${minSide} pixels, but the data is ${inputShape[0]}×${inputShape[1]}`;
  }
  return undefined;
}

export function buildArchitecture(
  tf: Tf,
  name: string,
  options: Record<string, unknown>,
  shape: { inputShape: number[]; numClasses: number; seed: number },
) {
  const misfit = architectureMisfit(name, shape.inputShape, options);
  if (misfit)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${misfit}. Choose an architecture that fits the data (see \`model.train.architecture\`).`,
    );
  return ARCHITECTURES[name]!.build(tf, options, {
    inputShape: shape.inputShape,
    numClasses: shape.numClasses,
    // Layer i gets seed*1009+i: different layers must not share an initial draw.
    initializer: (i) => tf.initializers.glorotUniform({ seed: (shape.seed * 1009 + i) >>> 0 }),
  });
}
