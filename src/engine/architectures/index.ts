import { McbError } from '../../errors.js';
import type { Tf } from '../runtime.js';
import { buildMlp } from './mlp.js';
import type { ArchitectureBuilder } from './types.js';

const BUILDERS: Record<string, ArchitectureBuilder> = { mlp: buildMlp };

export const ARCHITECTURES = Object.keys(BUILDERS);

export function buildArchitecture(tf: Tf, name: string, options: Record<string, unknown>, shape: { inputShape: number[]; numClasses: number; seed: number }) {
  const build = BUILDERS[name];
  if (!build) throw new McbError('MCB_RECIPE_INVALID', `unknown architecture ${JSON.stringify(name)}; known: ${ARCHITECTURES.join(', ')}.`);
  return build(tf, options, {
    inputShape: shape.inputShape,
    numClasses: shape.numClasses,
    // Layer i gets seed*1009+i: different layers must not share an initial draw.
    initializer: (i) => tf.initializers.glorotUniform({ seed: (shape.seed * 1009 + i) >>> 0 }),
  });
}
