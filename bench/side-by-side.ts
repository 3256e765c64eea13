/**
 * Latency of two models measured side by side: warm-up, then interleaved runs (alternating which goes first)
 * so machine load hits both alike; prints the median ms of each and the ratio at batch 1 and 32.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../src/engine/runtime.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function latencyBeforeAfter(
  tf: Tf,
  models: [TF.LayersModel, TF.LayersModel],
  log: (line: string) => void,
  indent = '   ',
): Promise<void> {
  for (const [batch, runs] of [
    [1, 40],
    [32, 12],
  ] as const) {
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 3);
    const once = async (i: number) => {
      const t = performance.now();
      const y = models[i]!.predict(x) as TF.Tensor;
      await y.data();
      y.dispose();
      return performance.now() - t;
    };
    for (let k = 0; k < 3; k++) for (const i of [0, 1]) await once(i);
    const times: [number[], number[]] = [[], []];
    for (let k = 0; k < runs; k++) for (const i of k % 2 ? [1, 0] : [0, 1]) times[i]!.push(await once(i));
    const [before, after] = times.map(median) as [number, number];
    log(
      `${indent}batch ${String(batch).padStart(2)}: before ${before.toFixed(2).padStart(7)} ms   after ${after.toFixed(2).padStart(7)} ms   ratio after/before ${(after / before).toFixed(2)}x`,
    );
    x.dispose();
  }
}
