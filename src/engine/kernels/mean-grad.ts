/**
 * Mean's gradient on the wasm backend without materialising ones(x.shape).
 *
 * TF.js computes it as div(mul(reshape(dy, kept), ones(x.shape)), N): a Fill, a broadcasting Multiply and a RealDiv
 * over the full input shape (for a global average pool, the whole last feature map; it was ~28 s of the quick
 * start when batch norm's moments still went through it). Dividing the small dy first and tiling the result gives
 * the same float32 values (dy·1 is dy, and each element is the same rounded dy/N), with one full-size pass done by
 * the Tile kernel (tile.ts), which copies blocks.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeanAttrs, Tensor } from '@tensorflow/tfjs';
import { overrideGradientOnWasm } from './gradient-override.js';

/** Makes Mean's gradient on wasm divide-then-tile. Idempotent. */
export function installMeanGradient(): void {
  overrideGradientOnWasm('Mean', (dy, [x], attrs) => {
    if (x === undefined || dy.dtype !== 'float32') return undefined;
    const axes = tf.util.parseAxisParam((attrs as unknown as MeanAttrs).axis, x.shape);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const reps = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
    const size = tf.util.sizeFromShape(reps);
    return { x: (): Tensor => tf.tile(tf.div(tf.reshape(dy, kept), size), reps) };
  });
}
