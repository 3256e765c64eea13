/**
 * prune-channels on a graph model through a whole build: planning accepts it, override blocks set a node's
 * sparsity by op or skip it by name, the output loads in stock tf.loadGraphModel; a graph whose only conv feeds a
 * ConcatV2 fails the step with exit 2 and the reason, at the pass's recipe line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../src/build/index.js';
import { loadEngine } from '../../../src/engine/runtime.js';
import { EmptyPassError } from '../../../src/errors.js';
import { filesToModel } from '../../../src/model/index.js';
import type { PrunedLayer, SkippedGroup } from '../../../src/passes/prune-channels/index.js';
import type { Report } from '../../../src/report/index.js';
import { npyBytes as npyOf, tempDir, writeText } from '../../helpers.js';
import { converterGraph, graphInput, NODES, npyBytes, predictGraph, writeModel } from './converter-graph.js';
import { tinyGraph } from './tiny-graph.js';

const dir = tempDir('mcbuild-graph-prune-channels-');

function recipe(name: string, model: string, data: string, overrides = ''): string {
  return writeText(
    join(dir, `${name}.yaml`),
    `version: 1
name: ${name}
model:
  path: ./${model}/model.json
data:
  eval: { dataset: npy, x: ./${data} }
passes:
  - prune-channels: { sparsity: 0.25 }
${overrides}thresholds:
  fidelity: { maxMeanRelError: 10 }
output: ./out-${name}
`,
  );
}

beforeAll(async () => {
  await loadEngine('wasm');
  writeModel(join(dir, 'graph'), converterGraph());
  writeModel(join(dir, 'concat'), tinyGraph('ConcatV2'));
  writeFileSync(join(dir, 'x.npy'), npyBytes(graphInput(8), [8, 8, 8, 3]));
  const x = Float32Array.from({ length: 8 * 4 * 4 * 3 }, (_, i) => Math.cos(i));
  writeFileSync(join(dir, 'small.npy'), npyOf('<f4', [8, 4, 4, 3], x));
});

describe('prune-channels on a graph model, built', () => {
  it('overrides by op and by node name; the output loads in stock TF.js', async () => {
    const file = recipe(
      'pcg',
      'graph',
      'x.npy',
      `overrides:
  - ops: [Conv2D]
    prune-channels: { sparsity: 0.5 }
  - layers: ["${NODES.pointwise}"]
    prune-channels: skip
`,
    );
    const r = await build(file, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(readFileSync(join(r.outputDir, 'report.json'), 'utf8')) as Report;
    const pass = report.passes.find((p) => p.id === 'pass-1-prune-channels')!;
    const stats = pass.stats as { layers: PrunedLayer[]; skipped: SkippedGroup[] };
    // ops: [Conv2D] matched the _FusedConv2D (sparsity 0.5: 8 → 4); the exact name skipped the plain Conv2D.
    expect(stats.layers.map((l) => [l.layer, l.channelsAfter])).toEqual([[NODES.conv, 4]]);
    expect(stats.skipped).toEqual(
      expect.arrayContaining([{ layers: [NODES.pointwise], reason: 'skipped by an override' }]),
    );
    expect(pass.changed).toMatchObject({ tensors: 5 });
    const files = new Map(
      ['model.json', 'group1-shard1of1.bin'].map((f) => [f, new Uint8Array(readFileSync(join(r.outputDir, f)))]),
    );
    const y = await predictGraph(filesToModel(files));
    expect(y.length).toBe(60);
    expect(y.every(Number.isFinite)).toBe(true);
  }, 120_000);

  it('a graph whose only conv feeds a ConcatV2: exit 2, at the pass line, with the reason', async () => {
    const file = recipe('concat', 'concat', 'small.npy');
    let e: unknown;
    try {
      await build(file, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(EmptyPassError);
    expect((e as EmptyPassError).exitCode).toBe(2);
    expect((e as EmptyPassError).message).toMatch(
      /prune-channels pass at \S*concat\.yaml:8:\d+ changed no weight.*it is read by join \(ConcatV2\), which prune-channels cannot follow/s,
    );
  }, 120_000);
});
