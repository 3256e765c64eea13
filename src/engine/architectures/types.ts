import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../runtime.js';

export interface ArchitectureContext {
  inputShape: number[];
  numClasses: number;
  /** A seeded Glorot-uniform initializer, distinct per layer index, so weights depend only on the seed. */
  initializer(layerIndex: number): ReturnType<typeof TF.initializers.glorotUniform>;
}

export type ArchitectureBuilder = (
  tf: Tf,
  options: Record<string, unknown>,
  ctx: ArchitectureContext,
) => TF.LayersModel;
