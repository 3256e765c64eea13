/**
 * prune-channels: MobileNet v1 inference before and after removing 50% of the channels of every conv (the
 * issue's goal: wasm latency ≤ 0.6x), at batch 1 and 32 on wasm, for α=0.5 and the quick start's α=0.25.
 * Before and after run alternately in the same loop, so load on a shared machine hits both alike and the
 * ratio holds even when the absolute numbers drift.
 */
import type * as TF from '@tensorflow/tfjs';
import { latencyBeforeAfter } from './side-by-side.js';
import { buildArchitecture } from '../src/engine/architectures/index.js';
import { fromLayersModel, toLayersModel, type Tf } from '../src/engine/runtime.js';
import { paramCount } from '../src/model/index.js';
import { modelCost } from '../src/metrics/flops.js';
import { pruneModelChannels } from '../src/passes/prune-channels/prune.js';

const n = (x: number) => x.toLocaleString('en-US');

export async function benchPruneChannels(log: (line: string) => void, tf: Tf): Promise<void> {
  log(
    '\n7. prune-channels, sparsity 0.5 (l1), mobilenet-v1 on wasm: median ms per forward pass, before and after, interleaved (goal ≤ 0.6x)',
  );
  for (const options of [{ alpha: 0.5 }, { alpha: 0.25, depth: 0 }]) {
    const built = buildArchitecture(tf, 'mobilenet-v1', options, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const stored = await fromLayersModel(tf, built);
    built.dispose();
    const t = performance.now();
    const pruned = pruneModelChannels(stored, { sparsity: 0.5, criterion: 'l1', scope: 'layer', roundTo: 1 });
    const ms = performance.now() - t;
    const [before, after] = [modelCost(stored.json), modelCost(pruned.model.json)] as { macs: number }[];
    log(
      `   α=${options.alpha}${'depth' in options ? `, depth ${options.depth}` : ''}: pruned in ${ms.toFixed(0)} ms (no TF.js); params ${n(paramCount(stored))} → ${n(paramCount(pruned.model))}; MACs ${n(before!.macs)} → ${n(after!.macs)} (${(after!.macs / before!.macs).toFixed(2)}x)`,
    );
    const models = [await toLayersModel(tf, stored), await toLayersModel(tf, pruned.model)];
    await latencyBeforeAfter(tf, models as [TF.LayersModel, TF.LayersModel], log, '      ');
    models.forEach((m) => m.dispose());
  }
}
