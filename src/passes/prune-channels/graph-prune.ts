/**
 * prune-channels on a graph model: the channel spaces of its Conv2D and MatMul nodes (./graph-analyse.ts), the
 * groups to prune with their options (the `layers` option and override blocks name nodes, as for the other graph
 * passes), the same ranking and counts as for layers models (./rank.ts), and the surgery (./graph-rewrite.ts).
 */
import { McbError } from '../../errors.js';
import { decodeWeights, elementCount, paramCount, type GraphNode, type StoredModel } from '../../model/index.js';
import { suggest } from '../../recipe/index.js';
import type { LayerOptions } from '../define.js';
import type { Group } from './analyse.js';
import { analyseGraph, type GraphAnalysis, type GraphConst } from './graph-analyse.js';
import { BATCH_NORM_OPS, DEPTHWISE_OPS } from './graph-nodes.js';
import { rewriteGraph } from './graph-rewrite.js';
import type { PruneChannelsOptions } from './options.js';
import { pruneStats, type PrunedGroup, type PrunedLayer } from './pruned.js';
import { filterImportance, keepCounts, keptChannels } from './rank.js';
import { chooseGroups, listNames, type OptionText, type SkippedGroup } from './select.js';

export function pruneGraphChannels(
  model: StoredModel,
  options: PruneChannelsOptions,
  passAt: string,
  optionText: OptionText,
  progress: (message: string) => void,
  layerOptions: LayerOptions<PruneChannelsOptions>,
): { model: StoredModel; stats: Record<string, unknown> } {
  const nodes = (model.json.modelTopology as { node: GraphNode[] }).node;
  const consts = new Map<string, GraphConst>(
    decodeWeights(model, { share: true }).map((w) => [
      w.spec.name,
      { shape: w.spec.shape, dtype: w.spec.dtype, values: w.values },
    ]),
  );
  const analysis = analyseGraph(model.json, nodes, consts);
  const ops = new Map(nodes.map((n) => [n.name, n.op]));
  const { chosen, optionsOf, skipped } = selectGraphGroups(analysis, ops, options, layerOptions, optionText);
  const floats = (weight: string): Float32Array => {
    const v = consts.get(weight)!.values as Float32Array;
    for (const x of v)
      if (x - x !== 0)
        throw new McbError(
          'MCB_MODEL_INVALID',
          `weight ${weight} holds ${x}${passAt}, so its channels cannot be ranked; retrain the model or check the steps before prune-channels.`,
        );
    return v;
  };
  const importance = new Map<Group, Float64Array>();
  for (const g of chosen) {
    const criterion = optionsOf.get(g)!.criterion;
    const sum = new Float64Array(g.size);
    for (const root of g.roots) {
      const k = analysis.kernels.get(root)!;
      const imp =
        criterion === 'bn-gamma'
          ? Float64Array.from(floats(analysis.gammas.get(root)!), Math.abs)
          : filterImportance(floats(k.weight), g.size, criterion, k.inner);
      for (let c = 0; c < g.size; c++) sum[c]! += imp[c]!;
    }
    importance.set(g, sum);
  }
  const perChannel = (g: Group) =>
    g.roots.reduce((n, r) => n + elementCount(consts.get(analysis.kernels.get(r)!.weight)!.shape) / g.size, 0);
  const keepCount = keepCounts(perChannel, chosen, optionsOf, importance, options, optionText, skipped);

  const layersStats: PrunedLayer[] = [];
  const groupStats: PrunedGroup[] = [];
  const keepOf = new Map<number, number[]>();
  for (const g of chosen) {
    const keep = Math.min(g.size, Math.ceil(keepCount.get(g)! / options.roundTo) * options.roundTo);
    const o = optionsOf.get(g)!;
    const override = o === options ? {} : { override: { sparsity: o.sparsity, criterion: o.criterion } };
    for (const root of g.roots)
      layersStats.push({
        layer: root,
        className: ops.get(root)!.endsWith('MatMul') ? 'Dense' : 'Conv2D',
        channelsBefore: g.size,
        channelsAfter: keep,
        ...override,
      });
    if (keep === g.size) continue;
    keepOf.set(analysis.find(g.spaces[0]!), keptChannels(importance.get(g)!, g.size, keep));
    if (g.roots.length > 1)
      groupStats.push({
        layers: g.roots,
        merges: g.merges,
        channelsBefore: g.size,
        channelsAfter: keep,
        selection: `shared: the ${keep} channels with the largest ${o.criterion} importance summed over the ${g.roots.length} nodes`,
      });
  }
  const order = new Map(nodes.map((n, i) => [n.name, i]));
  layersStats.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  const paramsBefore = paramCount(model);
  const stats = pruneStats(options, layersStats, groupStats, skipped, paramsBefore);
  // Nothing removed: the input passes through byte for byte (the runner then fails the step, with the reasons).
  if (keepOf.size === 0) return { model, stats: { ...stats, paramsAfter: paramsBefore } };
  progress(`prune-channels: slicing ${keepOf.size} channel groups of the graph`);
  const out = rewriteGraph(model, analysis, consts, keepOf);
  return { model: out, stats: { ...stats, paramsAfter: paramCount(out) } };
}

/** chooseGroups (./select.ts) for a graph: the named roots (each must be prunable) or every prunable group. */
function selectGraphGroups(
  analysis: GraphAnalysis,
  ops: ReadonlyMap<string, string>,
  options: PruneChannelsOptions,
  layerOptions: LayerOptions<PruneChannelsOptions>,
  optionText: OptionText,
): { chosen: Group[]; optionsOf: Map<Group, PruneChannelsOptions>; skipped: SkippedGroup[] } {
  const { groups } = analysis;
  const prunable = () => listNames(groups.filter((g) => g.blocked.length === 0).flatMap((g) => g.roots));
  return chooseGroups(groups, options, layerOptions, optionText, {
    noun: 'node',
    kindOf(name) {
      const op = ops.get(name);
      if (op === undefined)
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names node ${JSON.stringify(name)}, which the graph does not have${suggest(name, [...ops.keys()])}; the nodes prune-channels can prune are ${prunable()}.`,
        );
      return op;
    },
    notARootWhy: (name) => notARootWhy(analysis, name, ops.get(name)!),
    prunable,
    criterionProblem(g, o) {
      if (o.criterion !== 'bn-gamma') return undefined;
      const root = g.roots.find((r) => !analysis.gammas.has(r));
      return root === undefined
        ? undefined
        : `criterion bn-gamma needs a FusedBatchNorm right after ${root}, which has none; use criterion l1 or l2`;
    },
  });
}

function notARootWhy(analysis: GraphAnalysis, name: string, op: string): string {
  if (DEPTHWISE_OPS.has(op)) {
    const t = analysis.layouts.get(name);
    const root = t && analysis.groups.find((g) => g.spaces.includes(t.space))?.roots[0];
    return `a depthwise convolution's channels follow its input, so it is pruned with the node that feeds it${root ? ` (name ${root} instead)` : ''}`;
  }
  if (BATCH_NORM_OPS.has(op) || op === 'BiasAdd')
    return `a ${op} is pruned with the Conv2D or MatMul node before it; name that node instead`;
  return 'prune-channels removes output channels of Conv2D and MatMul nodes (fused or not) with a constant filter only';
}
