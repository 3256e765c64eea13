/**
 * Every pass on every converter-true fixture (test/fixtures/models), built in this process on label-free data:
 * layers models as Keras 2 (uint8-stored manifest), Keras 3 and a nested model with a shared layer (Keras 2 and
 * Keras 3 forms), graph models with fused ops, a detector (int32 input, four outputs, a While loop), an embedding
 * and a graph with a FusedBatchNorm. Each fixture runs two chains so that each pass that applies runs at least
 * once; each result loads in stock TF.js and runs a batch. `MCBUILD_MATRIX_TABLE=<file>` writes the fixture ×
 * chain table (exit code, weight bytes in → out, fidelity); the fixture × pass table, each pass alone (too long
 * for CI), is bench/fixture-passes.ts's.
 */
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../src/engine/runtime.js';
import { buildFixture, fidelityCell, weightBytes, writeFixtureRecipe } from '../fixtures/models/build-fixture.js';
import {
  batchnormGraph,
  detectorGraph,
  embeddingGraph,
  mobilenetV2Graph,
  mobilenetV2Keras3,
  mobilenetV2Layers,
  nestedLayers,
  nestedLayersKeras3,
  type ModelFixture,
} from '../fixtures/models/index.js';
import { loadOutput, runOneBatch } from '../fixtures/models/load.js';
import { tempDir } from '../helpers.js';

const work = tempDir('mcbuild-fixture-matrix-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await loadEngine('wasm');
});
const table = process.env.MCBUILD_MATRIX_TABLE;

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
  'nested layers, Keras 3 form': {
    make: () => nestedLayersKeras3(),
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
  const file = writeFixtureRecipe(dir, f, { name: `chain-${n}`, passes: chain, output: `./out-${n}` });
  return buildFixture(file, join(work, 'cache'));
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
          if ('error' in r) throw new Error(r.error);
          const m = r.report.metrics;
          // Every pass did something (an empty one fails its build, and the build passed) and every output
          // measured is compared with the baseline.
          expect(m.result.fidelity!.outputs!.map((o) => o.name)).toEqual(f.outputs.map((o) => o.name));
          // Stock TF.js loads the result (through mcbuild/runtime's IOHandler when weights are packed) and runs it.
          const { model } = await loadOutput(tf, r.out, f.format);
          const shapes = await runOneBatch(tf, model, f);
          model.dispose();
          expect(shapes).toEqual(f.outputs.map((o) => o.shape.map((d) => (d === -1 ? 1 : d))));
          if (table) {
            const bytes = weightBytes(r.report);
            appendFileSync(
              table,
              `| ${name} | ${chain.map((p) => p.split(':')[0]).join(' → ')} | ${r.code} | ${bytes.source} → ${bytes.output} | ${fidelityCell(m.result.fidelity!)} | yes |\n`,
            );
          }
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
