/**
 * Per-layer overrides on a graph model, end to end: blocks name the nodes that read weights by exact name, glob
 * and regex, and by op (`ops: [Conv2D]` matching the fused conv too); the built output carries each layer's
 * format and loads through mcbuild/runtime close to the original. A pattern or op matching no node is refused at
 * its recipe position, and so are passes that cannot work on a graph, with their reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../src/build/index.js';
import { loadEngine } from '../../../src/engine/runtime.js';
import { McbError } from '../../../src/errors.js';
import { loadRecipe } from '../../../src/language/index.js';
import { filesToModel } from '../../../src/model/index.js';
import { gatherPlanInputs, plan } from '../../../src/plan/index.js';
import { tempDir, writeText } from '../../helpers.js';
import { converterGraph, graphInput, NODES, npyBytes, P, predictGraph, writeModel } from './converter-graph.js';

const dir = tempDir('mcbuild-graph-overrides-');
let n = 0;

function recipe(passes: string, overrides: string): string {
  return `version: 1
name: graph
model:
  path: ./graph/model.json
data:
  eval: { dataset: npy, x: ./x.npy }
passes:
${passes}
overrides:
${overrides}
thresholds:
  size: { maxBytes: 1MB }
output: ./out-${n}
`;
}

async function planError(text: string): Promise<string> {
  let e: unknown;
  try {
    const r = await loadRecipe(writeText(join(dir, `p${n++}.yaml`), text));
    plan(r, await gatherPlanInputs(r, { backend: 'wasm' }));
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(McbError);
  expect((e as McbError).exitCode).toBe(2);
  return (e as McbError).message;
}

beforeAll(() => {
  writeModel(join(dir, 'graph'), converterGraph());
  writeFileSync(join(dir, 'x.npy'), npyBytes(graphInput(16), [16, 8, 8, 3]));
});

describe('overrides on a graph model', () => {
  it('match nodes by op (fused forms too), glob, regex and exact name; the output loads and stays close', async () => {
    await loadEngine('wasm');
    const file = writeText(
      join(dir, `b${n++}.yaml`),
      recipe(
        '  - quantize: { dtype: int8, granularity: per-channel }',
        [
          '  - ops: [Conv2D]',
          '    quantize: { dtype: float16, granularity: per-tensor }',
          '  - layers: ["*/dw_relu/*"]',
          '    quantize: { dtype: int4 }',
          '  - layers: ["re:.*/logits/.*"]',
          '    quantize: skip',
          `  - layers: ["${NODES.pointwise}"]`,
          '    quantize: { dtype: uint8, granularity: per-tensor }',
        ].join('\n'),
      ),
    );
    const result = await build(file, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    expect(result.exitCode).toBe(0);
    const out = result.outputDir;
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as {
      weightsManifest: { weights: { name: string; quantization?: { dtype: string } }[] }[];
    };
    const dtype = Object.fromEntries(
      json.weightsManifest[0]!.weights.map((w) => [w.name.slice(P.length + 1), w.quantization?.dtype ?? 'float32']),
    );
    expect(dtype).toEqual({
      // ops: [Conv2D] matched the _FusedConv2D: float16 for its filter and bias.
      'conv1/Conv2D_weights': 'float16',
      'conv1/Conv2D_bn_offset': 'float16',
      // The glob: int4 per channel for the depthwise filter; packed formats leave biases float32.
      'dw/depthwise_weights': 'int4',
      'dw/depthwise_bn_offset': 'float32',
      // The exact name, after the ops block: uint8.
      'pw/Conv2D/ReadVariableOp': 'uint8',
      'pw/BiasAdd/ReadVariableOp': 'uint8',
      'pool/Mean/reduction_indices': 'float32',
      // The regex: skipped.
      'logits/MatMul/ReadVariableOp': 'float32',
      'logits/BiasAdd/ReadVariableOp': 'float32',
    });
    const files = new Map(
      ['model.json', 'group1-shard1of1.bin'].map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]),
    );
    const before = await predictGraph(converterGraph());
    const after = await predictGraph(filesToModel(files), 'runtime');
    const diff = after.reduce((m, v, i) => Math.max(m, Math.abs(v - before[i]!)), 0);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.1);
  }, 120_000);

  it('an op or pattern that matches no node is an error at its position, with the closest ops or names', async () => {
    const op = await planError(recipe('  - quantize: { dtype: float16 }', '  - ops: [Conv3D]\n    quantize: skip'));
    expect(op).toMatch(/op "Conv3D" at .*p\d+\.yaml:10:11 matches no layer of the model; the closest are "Conv2D"/);
    const name = await planError(
      recipe('  - quantize: { dtype: float16 }', '  - layers: ["*/nothere/*"]\n    quantize: skip'),
    );
    expect(name).toMatch(/layer pattern "\*\/nothere\/\*" at .*:10:14 matches no layer/);
    expect(name).toContain(`${NODES.conv} (_FusedConv2D)`);
  });

  it('ops on a layers model match nothing: an error that says why', async () => {
    const text = recipe('  - quantize: { dtype: float16 }', '  - ops: [MatMul]\n    quantize: skip').replace(
      '  path: ./graph/model.json',
      '  train: { architecture: mlp, options: { hidden: [8] }, dataset: mnist, limit: 64, epochs: 1, seed: 1 }',
    );
    expect(await planError(text)).toMatch(/op "MatMul" at .*:10:11 matches no layer of the model; it has no ops/);
  });

  it('prune with a schedule is refused at planning, at the schedule, naming the model line', async () => {
    const m = await planError(
      recipe('  - prune: { sparsity: 0.5, schedule: { steps: 10 } }', '  - ops: [Conv2D]\n    prune: skip'),
    );
    expect(m).toMatch(
      /prune with a `schedule` at .*p\d+\.yaml:8:\d+ trains the model .* graph model \(set at .*:4:9\) cannot be trained/,
    );
  });

  for (const [pass, why] of [['finetune: { epochs: 1 }', /TF\.js runs a graph model for inference only/]] as const) {
    it(`${pass.split(':')[0]} is refused at its line with the reason`, async () => {
      const m = await planError(
        recipe(`  - ${pass}`, '  - ops: [Conv2D]\n    quantize: skip').replace(/overrides:\n.*\n.*\n/, ''),
      );
      expect(m).toMatch(
        /pass at .*p\d+\.yaml:8:\d+ works on layers models, but the model \(set at .*:4:9\) is a graph model: /,
      );
      expect(m).toMatch(why);
    });
  }
});
