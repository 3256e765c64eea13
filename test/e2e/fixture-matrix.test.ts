/**
 * Every pass on every converter-true fixture (test/fixtures/models), built in this process on label-free data:
 * layers models as Keras 2 (uint8-stored manifest), Keras 3 and a nested model with a shared layer, graph
 * models with fused ops, a detector (int32 input, four outputs, a While loop), an embedding and a graph with a
 * FusedBatchNorm. Each fixture runs two chains so that each pass that applies runs at least once; each result
 * loads in stock TF.js. `MCBUILD_MATRIX_TABLE=<file>` writes the fixture × chain table (exit code, bytes in →
 * out, fidelity) the issue's closing note quotes.
 */
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { loadEngine } from '../../src/engine/runtime.js';
import { McbError } from '../../src/errors.js';
import type { Report } from '../../src/report/index.js';
import { mcbuildLoader } from '../../src/runtime/index.js';
import { mulberry32 } from '../../src/util/random.js';
import {
  batchnormGraph,
  detectorGraph,
  embeddingGraph,
  mobilenetV2Graph,
  mobilenetV2Keras3,
  mobilenetV2Layers,
  nestedLayers,
  type ModelFixture,
} from '../fixtures/models/index.js';
import { npyBytes, tempDir } from '../helpers.js';

const work = tempDir('mcbuild-fixture-matrix-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await loadEngine('wasm');
});
const table = process.env.MCBUILD_MATRIX_TABLE;

/** A .npy v1 file of `count` seeded samples in the model's range (images in [-1, 1], or 0..255 as int32). */
function npy(shape: number[], dtype: 'float32' | 'int32' | 'uint8', count: number): Uint8Array {
  const dims = [count, ...shape.slice(1)];
  const n = dims.reduce((a, b) => a * b, 1);
  const random = mulberry32(11);
  const data =
    dtype === 'float32'
      ? Float32Array.from({ length: n }, () => random() * 2 - 1)
      : Int32Array.from({ length: n }, () => Math.floor(random() * 256));
  return npyBytes(dtype === 'float32' ? '<f4' : '<i4', dims, data);
}

interface Case {
  make: () => Promise<ModelFixture>;
  /** Two chains: together they hold every pass that applies to the fixture. */
  chains: [string[], string[]];
}

const LAYERS_CHAINS: [string[], string[]] = [
  [
    'fold-batchnorm: {}',
    'prune: { sparsity: 0.5 }',
    'cluster: { clusters: 16 }',
    'encode: {}',
    'shard: { shardBytes: 1MB }',
  ],
  [
    'prune-channels: { sparsity: 0.25 }',
    'lowrank: { ratio: 0.5 }',
    'quantize: { dtype: int8, granularity: per-channel }',
  ],
];
const GRAPH_CHAINS: [string[], string[]] = [
  ['prune: { sparsity: 0.5 }', 'cluster: { clusters: 16 }', 'encode: {}', 'shard: { shardBytes: 1MB }'],
  [
    'prune-channels: { sparsity: 0.25 }',
    'lowrank: { ratio: 0.5 }',
    'quantize: { dtype: int8, granularity: per-channel }',
  ],
];

const CASES: Record<string, Case> = {
  'mobilenet-v2 layers (uint8 stored)': {
    make: () => mobilenetV2Layers({ quantization: 'uint8' }),
    chains: LAYERS_CHAINS,
  },
  'mobilenet-v2 keras 3': { make: () => mobilenetV2Keras3(), chains: LAYERS_CHAINS },
  // Structural passes need a flat model: the nested one gets the weight passes (the refusal is tested below).
  'nested layers, shared layer, two outputs': {
    make: () => nestedLayers(),
    chains: [GRAPH_CHAINS[0], ['quantize: { dtype: int8, granularity: per-channel }']],
  },
  'mobilenet-v2 graph': { make: () => mobilenetV2Graph(), chains: GRAPH_CHAINS },
  'detector graph': { make: () => detectorGraph(), chains: GRAPH_CHAINS },
  'embedding graph': { make: () => embeddingGraph(), chains: GRAPH_CHAINS },
  'graph with a FusedBatchNorm': {
    make: () => batchnormGraph(),
    chains: [['fold-batchnorm: {}', ...GRAPH_CHAINS[0]], GRAPH_CHAINS[1]],
  },
};

async function runChain(name: string, f: ModelFixture, chain: string[], n: number) {
  const dir = join(work, name.replace(/\W+/g, '-'));
  mkdirSync(dir, { recursive: true });
  const input = f.inputs[0]!;
  writeFileSync(
    join(dir, 'x.npy'),
    npy(
      input.shape.map((d) => (d === -1 ? 1 : d)),
      input.dtype,
      4,
    ),
  );
  const file = join(dir, `chain-${n}.yaml`);
  writeFileSync(
    file,
    `version: 1
name: matrix
model: { path: ${JSON.stringify(f.modelJson)} }
data:
  eval: { dataset: npy, x: ./x.npy }
passes:
${chain.map((p) => `  - ${p}`).join('\n')}
thresholds:
  fidelity: { maxMeanRelError: 10 }
# One timed pass at batch 1: the default (1 and 32, 5+ runs) costs ~40 s per evaluation at 224×224 on wasm.
runtime: { latency: { batchSizes: [1], runs: 1, warmup: 0 } }
output: ./out-${n}
`,
  );
  try {
    const r = await build(file, { cacheDir: join(work, 'cache'), backend: 'wasm' });
    const report = JSON.parse(readFileSync(join(r.outputDir, 'report.json'), 'utf8')) as Report;
    return { code: r.exitCode, report, out: r.outputDir };
  } catch (e) {
    if (e instanceof McbError) return { code: e.exitCode, error: e.message };
    throw e;
  }
}

describe('every pass on every fixture', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(
      name,
      async () => {
        const f = await c.make();
        for (const [n, chain] of c.chains.entries()) {
          const r = await runChain(name, f, chain, n + 1);
          expect(r.code, `${chain.join(' → ')}: ${'error' in r ? r.error : ''}`).toBe(0);
          const report = r.report!;
          const m = report.metrics;
          // Every pass did something (an empty one fails its build, and the build passed) and every output
          // measured is compared with the baseline.
          expect(m.result.fidelity!.outputs!.map((o) => o.name)).toEqual(f.outputs.map((o) => o.name));
          // Stock TF.js loads the result (through mcbuild/runtime's IOHandler: packed weights need it).
          const handler = mcbuildLoader('http://fixture/model.json', {
            fetch: (url) =>
              Promise.resolve(
                new Response(
                  readFileSync(
                    join(r.out!, basename(new URL(url instanceof Request ? url.url : url.toString()).pathname)),
                  ),
                ),
              ),
          });
          const loaded =
            f.format === 'layers-model' ? await tf.loadLayersModel(handler) : await tf.loadGraphModel(handler);
          loaded.dispose();
          if (table)
            appendFileSync(
              table,
              `| ${name} | ${chain.map((p) => p.split(':')[0]).join(' → ')} | ${r.code} | ${m.baseline.sizeBytes} → ${m.result.sizeBytes} | cos ${m.result.fidelity!.cosine?.toFixed(4) ?? '—'}, max rel ${m.result.fidelity!.maxRelError!.toExponential(2)}${m.result.fidelity!.agreement !== undefined ? `, agree ${(m.result.fidelity!.agreement * 100).toFixed(0)}%` : ''} | yes |\n`,
            );
        }
      },
      600_000,
    );
  }

  it('a structural pass on a nested model is refused with the reason and the fix (exit 2)', async () => {
    const r = await runChain('nested refusal', await nestedLayers(), ['fold-batchnorm: {}'], 1);
    expect(r.code).toBe(2);
    expect('error' in r && r.error).toMatch(
      /fold-batchnorm.*chain-1\.yaml:7:\d+.*nested Functional model.*Flatten it/s,
    );
  }, 120_000);
});
