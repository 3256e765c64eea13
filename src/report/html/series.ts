/**
 * The data the page's script charts (also what tests read back from the canvases): size against accuracy with
 * the Pareto front, per-layer series from the passes' stats, and latency distributions.
 */
import type { Report } from '../json.js';
import { paretoFront } from '../sweep.js';
import type { HtmlEntry } from './entries.js';

export interface Point {
  x: number;
  y: number;
  label: string;
}

export interface LayerSeries {
  /** e.g. "sparsity (pass-1-prune)". */
  label: string;
  axis: 'fraction' | 'bits';
  /** One per layer label; null where the pass says nothing about the layer. */
  values: (number | null)[];
}

export interface LayerData {
  labels: string[];
  series: LayerSeries[];
}

export type LatencyChart =
  | {
      id: string;
      kind: 'samples';
      batchSize: number;
      source: 'interleaved' | 'separate';
      baseline: number[];
      result: number[];
    }
  | {
      id: string;
      kind: 'summary';
      batchSizes: number[];
      series: { label: string; side: 'baseline' | 'result'; values: (number | null)[] }[];
    };

export interface BuildData {
  id: string;
  label: string;
  layers: LayerData | null;
  latency: LatencyChart[];
}

export interface PageData {
  pareto: {
    axis: 'accuracy' | 'agreement';
    results: { recipe: string; points: (Point & { pass: boolean })[] }[];
    baselines: Point[];
    front: Point[];
  };
  builds: BuildData[];
}

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** A weight's layer as override blocks name it: the name up to its last '/' (src/passes/cluster.ts, layerOfWeight). */
const layerOf = (weight: string) => (weight.lastIndexOf('/') > 0 ? weight.slice(0, weight.lastIndexOf('/')) : weight);
const passName = (id: string) => id.replace(/^pass-\d+-/, '');

/**
 * Per-layer series from the passes' stats: prune's achieved sparsity per kernel, quantize's stored bits per
 * weight per layer, cluster's index bits (log2 of the distinct values kept), encode's bits per weight after
 * entropy coding (weighted over a layer's weights). Null when no pass reported anything per layer.
 */
export function layerData(report: Report): LayerData | null {
  const labels: string[] = [];
  const index = new Map<string, number>();
  const slot = (layer: string) => {
    if (!index.has(layer)) {
      index.set(layer, labels.length);
      labels.push(layer);
    }
    return index.get(layer)!;
  };
  const raw: { label: string; axis: LayerSeries['axis']; values: Map<number, number> }[] = [];
  for (const p of report.passes ?? []) {
    const stats = isObj(p.stats) ? p.stats : undefined;
    if (!stats) continue;
    const name = passName(p.id);
    const items = (key: string) => (Array.isArray(stats[key]) ? (stats[key] as unknown[]).filter(isObj) : []);
    const add = (label: string, axis: LayerSeries['axis'], pairs: [string, number][]) => {
      if (pairs.length === 0) return;
      const values = new Map<number, number>();
      for (const [layer, v] of pairs) values.set(slot(layer), v);
      raw.push({ label: `${label} (${p.id})`, axis, values });
    };
    // Weighted means per layer, for passes that report per weight.
    const perLayerMean = (rows: { layer: string; value: number; weight: number }[]): [string, number][] => {
      const acc = new Map<string, { sum: number; n: number }>();
      for (const r of rows) {
        const a = acc.get(r.layer) ?? { sum: 0, n: 0 };
        a.sum += r.value * r.weight;
        a.n += r.weight;
        acc.set(r.layer, a);
      }
      return [...acc].map(([layer, a]) => [layer, a.n ? a.sum / a.n : 0]);
    };
    if (name === 'prune') {
      // `layer` is the kernel ("dense_1/kernel"); zeros and totals weight the layer's mean.
      const rows = items('layers').flatMap((l) =>
        str(l.layer) !== undefined && num(l.sparsity) !== undefined
          ? [{ layer: layerOf(str(l.layer)!), value: num(l.sparsity)!, weight: num(l.total) ?? 1 }]
          : [],
      );
      add('sparsity', 'fraction', perLayerMean(rows));
    } else if (name === 'quantize') {
      add(
        'bits per weight',
        'bits',
        items('layers').flatMap((l) =>
          str(l.layer) !== undefined && num(l.bitsPerWeight) !== undefined
            ? [[str(l.layer)!, num(l.bitsPerWeight)!] as [string, number]]
            : [],
        ),
      );
    } else if (name === 'cluster') {
      const rows = items('layers').flatMap((l) => {
        const distinct = num(l.distinctValues);
        const layer = str(l.layer) ?? (str(l.weight) !== undefined ? layerOf(str(l.weight)!) : undefined);
        return layer !== undefined && distinct !== undefined
          ? [{ layer, value: Math.ceil(Math.log2(Math.max(2, distinct))), weight: 1 }]
          : [];
      });
      add(
        'index bits',
        'bits',
        perLayerMean(rows).map(([l, v]) => [l, Math.round(v * 1000) / 1000]),
      );
    } else if (name === 'encode') {
      const rows = items('encoded').flatMap((e) => {
        const bits = num(e.bitsPerWeight);
        const bytes = num(e.bytesAfter);
        const n = str(e.name);
        // The weight's value count, back from its bytes and bits per weight (the stats keep both).
        return n !== undefined && bits !== undefined && bits > 0
          ? [{ layer: layerOf(n), value: bits, weight: bytes !== undefined ? (8 * bytes) / bits : 1 }]
          : [];
      });
      add(
        'bits per weight',
        'bits',
        perLayerMean(rows).map(([l, v]) => [l, Math.round(v * 1000) / 1000]),
      );
    }
  }
  if (raw.length === 0) return null;
  return {
    labels,
    series: raw.map((s) => ({
      label: s.label,
      axis: s.axis,
      values: labels.map((_, i) => (s.values.has(i) ? roundTo(s.values.get(i)!, 6) : null)),
    })),
  };
}

const roundTo = (v: number, digits: number) => Number(v.toFixed(digits));

/** The samples of one side of a batch size, or undefined when the report kept none. */
function samplesOf(side: unknown): number[] | undefined {
  if (!isObj(side) || !Array.isArray(side.samplesMs)) return undefined;
  const s = side.samplesMs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return s.length ? s.map((x) => roundTo(x, 4)).sort((a, b) => a - b) : undefined;
}

/**
 * The latency charts of one build: per batch size, the sorted timed passes of baseline and result — from the
 * interleaved comparison when the report has one (both models timed turn about, the fair comparison), else
 * from each eval step's own runs; a report without samples gets one bar chart of median / p95 / fastest.
 */
export function latencyCharts(report: Report, idBase: string): LatencyChart[] {
  const metrics = report.metrics as unknown as Obj;
  const comparison =
    isObj(metrics.latencyComparison) && Array.isArray(metrics.latencyComparison.batches)
      ? metrics.latencyComparison.batches.filter(isObj)
      : [];
  const sides = (['baseline', 'result'] as const).map((s) => {
    const l = (isObj(metrics[s]) ? metrics[s].latency : undefined) as Obj | undefined;
    return isObj(l) && Array.isArray(l.batches) ? l.batches.filter(isObj) : [];
  });
  const sizes = [
    ...new Set(
      [...comparison, ...sides[0]!, ...sides[1]!]
        .map((b) => num(b.batchSize))
        .filter((n): n is number => n !== undefined),
    ),
  ].sort((a, b) => a - b);
  const charts: LatencyChart[] = [];
  const summaryFor: number[] = [];
  for (const size of sizes) {
    const c = comparison.find((b) => b.batchSize === size);
    const [cb, cr] = [samplesOf(c?.baseline), samplesOf(c?.result)];
    if (cb && cr) {
      charts.push({
        id: `${idBase}-b${size}`,
        kind: 'samples',
        batchSize: size,
        source: 'interleaved',
        baseline: cb,
        result: cr,
      });
      continue;
    }
    const [b, r] = sides.map((side) => samplesOf(side.find((x) => x.batchSize === size)));
    if (b || r)
      charts.push({
        id: `${idBase}-b${size}`,
        kind: 'samples',
        batchSize: size,
        source: 'separate',
        baseline: b ?? [],
        result: r ?? [],
      });
    else summaryFor.push(size);
  }
  if (summaryFor.length) {
    const stat = (side: 0 | 1, key: 'medianMs' | 'p95Ms' | 'minMs') =>
      summaryFor.map((size) => {
        const v = num(sides[side]!.find((x) => x.batchSize === size)?.[key]);
        return v === undefined ? null : roundTo(v, 4);
      });
    const series: Extract<LatencyChart, { kind: 'summary' }>['series'] = [];
    for (const [key, what] of [
      ['medianMs', 'median'],
      ['p95Ms', 'p95'],
      ['minMs', 'fastest'],
    ] as const) {
      for (const [i, side] of (['baseline', 'result'] as const).entries())
        series.push({ label: `${side} ${what}`, side, values: stat(i as 0 | 1, key) });
    }
    charts.push({
      id: `${idBase}-summary`,
      kind: 'summary',
      batchSizes: summaryFor,
      series: series.filter((s) => s.values.some((v) => v !== null)),
    });
  }
  return charts;
}

/** What the page charts, and what its text says of the charts. */
export interface ChartData {
  data: PageData;
  /** Indices of the entries on the Pareto front. */
  onFront: Set<number>;
  /** Labels of the entries without the chosen quality measure: left off the chart. */
  leftOff: string[];
  /** Points on the size/quality chart. */
  counts: { results: number; baselines: number; front: number };
}

/**
 * The size/quality chart (results, baselines, the Pareto front across all of them) and each build's per-layer
 * and latency charts.
 */
export function chartData(entries: readonly HtmlEntry[]): ChartData {
  // The quality axis: accuracy; with label-free eval data (no accuracy anywhere) agreement with the baseline
  // (the baseline agrees with itself: 100%). A build without the chosen measure is left off the chart, and said.
  const axis: 'accuracy' | 'agreement' =
    entries.every((e) => e.report.metrics.result.accuracy === undefined) &&
    entries.some((e) => e.report.metrics.result.fidelity)
      ? 'agreement'
      : 'accuracy';
  const quality = (m: Report['metrics']['result'], isBaseline: boolean) =>
    axis === 'accuracy' ? m.accuracy : isBaseline ? 1 : m.fidelity?.agreement;
  const plotted = entries
    .map((e, i) => ({ e, i, q: quality(e.report.metrics.result, false), qb: quality(e.report.metrics.baseline, true) }))
    .filter((p) => p.q !== undefined);
  const leftOff = entries.filter((e) => quality(e.report.metrics.result, false) === undefined).map((e) => e.label);
  // Results: one point per build, grouped by recipe (one colour each); baselines once per distinct model.
  const results = plotted.map(({ e, q }) => ({
    recipe: e.report.recipe.name,
    x: e.report.metrics.result.sizeBytes,
    y: roundTo(q! * 100, 4),
    label: e.label,
    pass: e.report.verdict === 'pass',
  }));
  const groups = [...new Set(results.map((p) => p.recipe))].map((recipe) => ({
    recipe,
    points: results.filter((p) => p.recipe === recipe).map(({ x, y, label, pass }) => ({ x, y, label, pass })),
  }));
  // Recipes (and a sweep's variants) that start from the same model share one baseline point.
  const baselines = new Map<string, Point & { recipes: string[] }>();
  for (const { e, qb } of plotted) {
    if (qb === undefined) continue;
    const b = e.report.metrics.baseline;
    const key = JSON.stringify([b.sizeBytes, qb]);
    const point = baselines.get(key) ?? { x: b.sizeBytes, y: roundTo(qb * 100, 4), label: '', recipes: [] };
    if (!point.recipes.includes(e.report.recipe.name)) point.recipes.push(e.report.recipe.name);
    point.label = `baseline of ${point.recipes.join(', ')}`;
    baselines.set(key, point);
  }
  const frontIdx = paretoFront(results.map((p) => ({ size: p.x, accuracy: p.y })));
  const onFront = new Set(frontIdx.map((k) => plotted[k]!.i));
  const front = frontIdx
    .map((k) => results[k]!)
    .sort((a, b) => a.x - b.x || a.y - b.y)
    .map(({ x, y, label }) => ({ x, y, label }));
  const builds: BuildData[] = entries.map((e, i) => ({
    id: `build-${i + 1}`,
    label: e.label,
    layers: layerData(e.report),
    latency: latencyCharts(e.report, `build-${i + 1}`),
  }));
  const data: PageData = {
    pareto: {
      axis,
      results: groups,
      baselines: [...baselines.values()].map(({ x, y, label }) => ({ x, y, label })),
      front,
    },
    builds,
  };
  return {
    data,
    onFront,
    leftOff,
    counts: { results: results.length, baselines: baselines.size, front: front.length },
  };
}
