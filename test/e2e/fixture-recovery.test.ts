/**
 * Label-free recovery at full size: on the 224×224 MobileNetV2 fixture (3.5M parameters, Keras 2 layers
 * model), 70% magnitude pruning then a label-free finetune that learns from the baseline runs, and brings the
 * result's outputs closer to the baseline's (cosine) than pruning alone, measured on images it did not train on.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Report } from '../../src/report/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { mobilenetV2Layers } from '../fixtures/models/index.js';
import { npyBytes, tempDir } from '../helpers.js';

const work = tempDir('mcbuild-fixture-recovery-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `count` seeded smooth 224×224×3 pictures in [-1, 1] (gradients and blobs, not white noise), as .npy. */
function pictures(count: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const data = new Float32Array(count * 224 * 224 * 3);
  for (let i = 0; i < count; i++) {
    const [a, b, c, cx, cy] = [random(), random(), random(), random() * 224, random() * 224];
    for (let y = 0; y < 224; y++)
      for (let x = 0; x < 224; x++) {
        const blob = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 2000);
        const at = ((i * 224 + y) * 224 + x) * 3;
        data[at] = Math.tanh(a * 2 - 1 + blob);
        data[at + 1] = Math.tanh(((x / 224) * b * 2 - 1) * 1.5);
        data[at + 2] = Math.tanh(((y / 224) * c * 2 - 1) * 1.5 - blob);
      }
  }
  return npyBytes('<f4', [count, 224, 224, 3], data);
}

describe('label-free recovery on the 224×224 MobileNetV2', () => {
  it('prune 70% then finetune from the baseline without labels: closer to the baseline than pruning alone', async () => {
    const f = await mobilenetV2Layers();
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'train.npy'), pictures(8, 1));
    writeFileSync(join(work, 'eval.npy'), pictures(4, 2));
    const recipe = (name: string, passes: string[]) => {
      const file = join(work, `${name}.yaml`);
      writeFileSync(
        file,
        `version: 1
name: ${name}
model: { path: ${JSON.stringify(f.modelJson)} }
data:
  eval: { dataset: npy, x: ./eval.npy }
  train: { dataset: npy, x: ./train.npy }
passes:
${passes.map((p) => `  - ${p}`).join('\n')}
thresholds:
  fidelity: { maxMeanRelError: 10 }
runtime: { latency: { batchSizes: [1], runs: 1, warmup: 0 } }
output: ./out-${name}
`,
      );
      return file;
    };
    const opts = { cacheDir: join(work, 'cache'), backend: 'wasm' as const };
    const cosine = async (file: string) => {
      const r = await build(file, opts);
      expect(r.exitCode).toBe(0);
      const report = JSON.parse(readFileSync(join(r.outputDir, 'report.json'), 'utf8')) as Report;
      return report.metrics.result.fidelity!.cosine!;
    };
    const pruned = await cosine(recipe('pruned', ['prune: { sparsity: 0.7 }']));
    const recovered = await cosine(
      recipe('recovered', ['prune: { sparsity: 0.7 }', 'finetune: { epochs: 2, batchSize: 4, learningRate: 0.001 }']),
    );
    console.log(
      `224×224 MobileNetV2: cosine to the baseline, pruned ${pruned.toFixed(4)} → finetuned ${recovered.toFixed(4)}`,
    );
    expect(recovered).toBeGreaterThan(pruned);
  }, 900_000);
});
