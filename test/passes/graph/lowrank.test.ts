/**
 * lowrank on a graph model: each Conv2D and MatMul node with a constant filter (fused or not) becomes two nodes,
 * the node keeping its name, bias and activation; stock tf.loadGraphModel loads the result; at full rank it
 * predicts as before, and a lower rank stores fewer parameters.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../src/engine/runtime.js';
import { decodeWeights, modelLayers, readGraph, type GraphNode } from '../../../src/model/index.js';
import { lowrank } from '../../../src/passes/lowrank/index.js';
import { layerResolver, type LayerRule } from '../../../src/plan/layers.js';
import { formatDataPath, type DataPath } from '../../../src/recipe/index.js';
import { converterGraph, NODES, P, predictGraph } from './converter-graph.js';

const path: DataPath = ['passes', 0, 'lowrank'];
const placeAt = (p: DataPath) => `r.yaml:${formatDataPath(p)}`;
const place = { path, at: (o?: string) => placeAt(o === undefined ? path : [...path, o]) };

function run(raw: Record<string, unknown>, blocks: Omit<LayerRule, 'block'>[] = [], options = converterGraph()) {
  const o = lowrank.resolveOptions(raw, place);
  const rules = blocks.map((b, block) => ({ block, ...b }));
  const resolver = layerResolver(
    lowrank,
    { path, raw },
    o,
    rules,
    modelLayers(options.json, options.weightSpecs),
    placeAt,
  );
  return lowrank.apply(options, o, {
    engine: () => loadEngine('wasm'),
    data: () => Promise.reject(new Error('reads no data')),
    signal: new AbortController().signal,
    progress: () => {},
    place,
    layerOptions: resolver.optionsFor,
  });
}

beforeAll(async () => {
  await loadEngine('wasm');
});

describe('lowrank on a graph model', () => {
  it('splits each Conv2D and MatMul node; the node keeps its name; a kernel of rank 2 kept whole predicts the same', async () => {
    const model = converterGraph();
    // The dense kernel [16, 10] made rank 2 (a sum of two outer products): its rank-2 factors are exact.
    const kernel = decodeWeights(model, { share: true }).find(
      (w) => w.spec.name === `${P}/logits/MatMul/ReadVariableOp`,
    )!;
    const k = kernel.values as Float32Array;
    for (let i = 0; i < 16; i++)
      for (let o = 0; o < 10; o++)
        k[i * 10 + o] = Math.sin(i + 1) * Math.cos(o) * 0.5 + Math.cos(2 * i) * Math.sin(o + 2) * 0.3;
    const before = await predictGraph(model);
    const { model: out, stats } = await run({ energy: 0.999999 }, [], model);
    const decomposed = stats.decomposed as { layer: string; into: string[]; rank: number; matrix: number[] }[];
    const skipped = stats.skipped as { layer: string; reason: string }[];
    expect(skipped.find((s) => s.layer === NODES.depthwise)?.reason).toMatch(/depthwise/);
    // Conv 27×8 and pw 8×16 have full rank, which would store more: skipped. The dense kernel has rank 2.
    expect(decomposed.map((d) => [d.layer, d.rank])).toEqual([[NODES.dense, 2]]);
    for (const d of decomposed) expect(d.into).toEqual([`${d.layer}_lr1`, d.layer]);
    expect(stats.layersDecomposed).toBe(decomposed.length);
    expect(decomposed.length + skipped.length).toBe(4);
    const after = await predictGraph(out);
    after.forEach((v, i) => expect(v).toBeCloseTo(before[i]!, 5));
  });

  it('a rank below the kernels: fewer parameters, nodes chained, stock TF.js loads it and stays close', async () => {
    const model = converterGraph();
    const before = await predictGraph(model);
    const { model: out, stats } = await run({ rank: 2 }, [{ layers: [NODES.conv], set: 'skip' }]);
    const decomposed = stats.decomposed as { layer: string; rank: number }[];
    expect(decomposed.map((d) => d.layer)).toEqual([NODES.pointwise, NODES.dense]);
    expect(stats.paramsAfter).toBeLessThan(stats.paramsBefore as number);
    const nodes = (out.json.modelTopology as { node: GraphNode[] }).node;
    const byName = new Map(nodes.map((n) => [n.name, n]));
    expect(byName.get(NODES.dense)!.input!.slice(0, 2)).toEqual([
      `${NODES.dense}_lr1`,
      `${P}/logits/MatMul/ReadVariableOp_lr2`,
    ]);
    expect(byName.get(`${NODES.dense}_lr1`)!.op).toBe('MatMul');
    expect(byName.get(`${NODES.pointwise}_lr1`)!.op).toBe('Conv2D');
    // The Identity between the old filter and the conv went with it.
    expect(byName.has(`${P}/pw/Conv2D/Identity`)).toBe(false);
    expect(out.weightSpecs.find((s) => s.name === `${P}/pw/Conv2D/ReadVariableOp_lr1`)!.shape).toEqual([1, 1, 8, 2]);
    expect(out.weightSpecs.find((s) => s.name === `${P}/pw/Conv2D/ReadVariableOp_lr2`)!.shape).toEqual([1, 1, 2, 16]);
    const consts = nodes.filter((n) => n.op === 'Const').map((n) => n.name);
    expect(consts.sort()).toEqual(out.weightSpecs.map((s) => s.name).sort());
    // The new nodes are layers of the graph too, so later passes and overrides see them.
    expect(readGraph(out.json)!.layers.map((l) => l.name)).toContain(`${NODES.dense}_lr1`);
    const after = await predictGraph(out);
    expect(after.every(Number.isFinite)).toBe(true);
    const diff = after.reduce((m, v, i) => Math.max(m, Math.abs(v - before[i]!)), 0);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.5);
  });

  it('a 3×3 fused conv splits into a 3×3 conv to r filters then a 1×1 fused conv with its bias and Relu6', async () => {
    const model = converterGraph();
    const before = await predictGraph(model);
    const { model: out, stats } = await run({ rank: 5 }, [], model);
    expect((stats.decomposed as { layer: string }[]).map((d) => d.layer)).toContain(NODES.conv);
    const byName = new Map((out.json.modelTopology as { node: GraphNode[] }).node.map((n) => [n.name, n]));
    expect(byName.get(`${NODES.conv}_lr1`)!.op).toBe('Conv2D');
    expect(byName.get(NODES.conv)!.op).toBe('_FusedConv2D');
    expect(out.weightSpecs.find((s) => s.name === `${P}/conv1/Conv2D_weights_lr1`)!.shape).toEqual([3, 3, 3, 5]);
    const after = await predictGraph(out);
    expect(after.every(Number.isFinite)).toBe(true);
    expect(after.reduce((m, v, i) => Math.max(m, Math.abs(v - before[i]!)), 0)).toBeLessThan(0.5);
  });

  it('`layers` naming a node that is not a Conv2D or MatMul is an error at its line', async () => {
    await expect(run({ ratio: 0.5, layers: [NODES.depthwise] })).rejects.toThrow(
      /`passes\[0\]\.lowrank\.layers` at r\.yaml:passes\[0\]\.lowrank\.layers names ".*dw_relu\/Relu6", which is not a Conv2D or MatMul node/,
    );
  });
});
