/**
 * fold-batchnorm: MobileNet v1 α=0.5 inference before and after folding its batch norms, at batch 1 and
 * 32 on wasm. Before and after run alternately in the same loop, so load on a shared machine hits both
 * alike and the ratio holds even when the absolute numbers drift.
 */
import type * as TF from '@tensorflow/tfjs';
import { latencyBeforeAfter } from './side-by-side.js';
import { buildArchitecture } from '../src/engine/architectures/index.js';
import { fromLayersModel, toLayersModel, type Tf } from '../src/engine/runtime.js';
import { countCost } from '../src/metrics/flops.js';
import { Topology } from '../src/model/index.js';
import { foldBatchNorms } from '../src/passes/fold-batchnorm/apply.js';

export async function benchFoldBatchnorm(log: (line: string) => void, tf: Tf): Promise<void> {
  log('\n6. fold-batchnorm, mobilenet-v1 α=0.5 on wasm: median ms per forward pass, before and after, interleaved');
  const built = buildArchitecture(
    tf,
    'mobilenet-v1',
    { alpha: 0.5 },
    { inputShape: [28, 28, 1], numClasses: 10, seed: 1 },
  );
  const stored = await fromLayersModel(tf, built);
  built.dispose();
  const t = performance.now();
  const folded = foldBatchNorms(stored);
  const foldMs = performance.now() - t;
  const stats = folded.stats as { layersBefore: number; layersAfter: number; batchNormsFolded: number };
  const [costBefore, costAfter] = [
    countCost(Topology.fromModel(stored.json)),
    countCost(Topology.fromModel(folded.model.json)),
  ];
  log(
    `   fold: ${stats.batchNormsFolded} batch norms in ${foldMs.toFixed(0)} ms (no TF.js); layers ${stats.layersBefore} → ${stats.layersAfter}; FLOPs ${costBefore.flops.toLocaleString('en-US')} → ${costAfter.flops.toLocaleString('en-US')} (MACs ${costAfter.macs.toLocaleString('en-US')} both)`,
  );
  const models = [await toLayersModel(tf, stored), await toLayersModel(tf, folded.model)];
  await latencyBeforeAfter(tf, models as [TF.LayersModel, TF.LayersModel], log, '   ');
  models.forEach((m) => m.dispose());
}
