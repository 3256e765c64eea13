/**
 * The target for label-free recovery: on the builtin MNIST MobileNet, 70% magnitude pruning then a
 * finetune on digits without labels (learning from the baseline as its teacher; labels are used only to
 * measure) wins back at least half of the accuracy the pruning cost. The pruned model without finetune is
 * built in the same test, on the same cache, so the comparison is measured rather than assumed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { build } from '../../src/index.js';
import { tempDir, writeText } from '../helpers.js';

/** A float32 .npy v1 file (C order). */
function npyF4(shape: number[], data: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    head,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

const recipe = (passes: string, output: string) => `version: 1
name: label-free-recovery
model:
  train:
    architecture: mobilenet-v1
    options: { alpha: 0.25, depth: 0 }
    dataset: mnist
    limit: ${TRAIN}
    epochs: 2
    batchSize: 64
    learningRate: 0.004
    schedule: { type: cosine, warmupBatches: 30 }
    seed: 1
data:
  eval: { dataset: mnist, split: test, limit: 500 }
  train: { dataset: npy, x: ./digits.npy }   # no y: label-free
passes:
${passes}
thresholds:
  accuracy: { min: 0 }
output: ${output}
`;

const TRAIN = 3000;
const UNLABELLED = 2000;

describe('label-free recovery on the builtin MNIST MobileNet', () => {
  it('70% magnitude pruning, then finetune from the baseline without labels, wins back at least half the loss', async () => {
    const dir = tempDir();
    writeText(join(dir, 'package.json'), '{}');
    // Digits the baseline never trained on, labels dropped: what a user's folder of unlabelled images is.
    const mnist = await loadMnist('train', TRAIN + UNLABELLED);
    const size = 28 * 28;
    writeFileSync(
      join(dir, 'digits.npy'),
      npyF4([UNLABELLED, 28, 28, 1], mnist.x.slice(TRAIN * size, (TRAIN + UNLABELLED) * size)),
    );
    const cacheDir = join(dir, 'cache');
    const seconds: Record<string, number> = {};
    const run = async (name: string, passes: string) => {
      const started = performance.now();
      const result = await build(writeText(join(dir, `${name}.yaml`), recipe(passes, `./${name}`)), {
        cacheDir,
        backend: 'wasm',
      });
      expect(result.exitCode).toBe(0);
      const report = JSON.parse(readFileSync(join(result.outputDir, 'report.json'), 'utf8')) as {
        metrics: { baseline: { accuracy: number }; result: { accuracy: number } };
        passes: { id: string; stats: Record<string, unknown> }[];
      };
      seconds[name] = Math.round((performance.now() - started) / 1000);
      return report;
    };
    const pruned = await run('pruned', '  - prune: { sparsity: 0.7 }');
    const recovered = await run(
      'recovered',
      '  - prune: { sparsity: 0.7 }\n  - finetune: { learningRate: 0.002, batchSize: 32 }',
    );
    const baseline = pruned.metrics.baseline.accuracy;
    const prunedAcc = pruned.metrics.result.accuracy;
    const recoveredAcc = recovered.metrics.result.accuracy;
    // The figures the closing note quotes.
    console.log(`accuracy: baseline ${baseline}, pruned ${prunedAcc}, recovered ${recoveredAcc}; seconds`, seconds);
    expect(recovered.metrics.baseline.accuracy).toBe(baseline);
    const stats = recovered.passes.find((p) => p.id === 'pass-2-finetune')!.stats;
    expect(stats.teacher).toMatchObject({ model: 'baseline', loss: 'kl', weight: 1, forwardSamples: UNLABELLED });
    // The pruning must cost something for the recovery to mean anything.
    expect(baseline - prunedAcc).toBeGreaterThan(0.02);
    expect(recoveredAcc - prunedAcc).toBeGreaterThanOrEqual((baseline - prunedAcc) / 2);
  }, 600_000);
});
