/**
 * report.html: one self-contained page for one build, the variants of a matrix sweep, or any reports given
 * together (`mcbuild report a b c --html out.html`). It carries Chart.js (inlined, MIT) and its data (a JSON
 * block), so it opens from disk, offline, attached to a CI run or mailed; a Content-Security-Policy allows
 * exactly the page's own inline script and style by hash and forbids every load, so a page opened from an
 * untrusted artifact cannot reach the network.
 *
 * Readable without JavaScript: the headline numbers and every threshold with PASS/FAIL are plain tables (the
 * terminal table's rows, src/report/table.ts), the per-layer numbers too; the charts add the shapes:
 *  - size (log) against accuracy: every result, the baselines, and the Pareto front across all of them;
 *  - per layer: sparsity and stored bits per weight, from each pass's stats (prune, quantize, cluster, encode);
 *  - latency: the distribution of the timed passes (baseline and result interleaved when measured so, else
 *    each side's own runs), or the median / p95 / fastest bars of reports that kept no samples.
 *
 * Pure: the same inputs give the same bytes (no timestamps, no paths beyond what report.json holds). Every
 * text is escaped; the data block escapes `<` so a recipe named `</script>` stays data.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Report } from './json.js';
import { paretoFront, type Sweep } from './sweep.js';
import { latencyNote, metricRows } from './table.js';
import { formatBytes } from '../util/bytes.js';

/** The page's name beside report.json (every build) and beside sweep.json (every sweep). */
export const HTML_FILE = 'report.html';

export interface HtmlEntry {
  /** The build's name on the page (legends, headings); the caller makes it unique. */
  label: string;
  report: Report;
  /** Index into `HtmlPage.sweeps` when the report is one variant of a sweep on the page. */
  sweep?: number;
}

export interface HtmlPage {
  entries: readonly HtmlEntry[];
  sweeps?: readonly Sweep[];
}

/** What a page is made of: single reports (`where`: a short name telling two builds of one recipe apart) and sweeps. */
export type HtmlItem =
  { report: Report; where?: string } | { sweep: Sweep; variants: readonly { report: Report; where?: string }[] };

/**
 * The page's entries in order, each labelled by its recipe (and variant); a label two builds would share gets
 * its `where` (e.g. the output folder's name), else a number.
 */
export function htmlPage(items: readonly HtmlItem[]): HtmlPage {
  const sweeps: Sweep[] = [];
  const flat: { report: Report; where?: string; sweep?: number }[] = [];
  for (const item of items) {
    if ('sweep' in item) {
      sweeps.push(item.sweep);
      for (const v of item.variants) flat.push({ ...v, sweep: sweeps.length - 1 });
    } else flat.push(item);
  }
  const base = (r: Report) => (r.variant ? `${r.recipe.name} ${r.variant.name}` : r.recipe.name);
  const count = (labels: string[], l: string) => labels.filter((x) => x === l).length;
  const bases = flat.map((f) => base(f.report));
  const withWhere = flat.map((f, i) =>
    count(bases, bases[i]!) > 1 && f.where ? `${bases[i]} (${f.where})` : bases[i]!,
  );
  const seen = new Map<string, number>();
  const entries = flat.map((f, i) => {
    const l = withWhere[i]!;
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    const label = count(withWhere, l) > 1 ? `${l} #${n}` : l;
    return { label, report: f.report, ...(f.sweep === undefined ? {} : { sweep: f.sweep }) };
  });
  return { entries, ...(sweeps.length ? { sweeps } : {}) };
}

// ---- the data the page's script charts (also what tests read back from the canvases) -------------------------

interface Point {
  x: number;
  y: number;
  label: string;
}

interface LayerSeries {
  /** e.g. "sparsity (pass-1-prune)". */
  label: string;
  axis: 'fraction' | 'bits';
  /** One per layer label; null where the pass says nothing about the layer. */
  values: (number | null)[];
}

interface LayerData {
  labels: string[];
  series: LayerSeries[];
}

type LatencyChart =
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

interface BuildData {
  id: string;
  label: string;
  layers: LayerData | null;
  latency: LatencyChart[];
}

interface PageData {
  pareto: {
    axis: 'accuracy' | 'agreement';
    results: { recipe: string; points: (Point & { pass: boolean })[] }[];
    baselines: Point[];
    front: Point[];
  };
  builds: BuildData[];
}

// ---- escaping --------------------------------------------------------------------------------------------------

/** Text for HTML element content and attribute values (double-quoted). */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON inside a `<script type="application/json">`: `<` (and `>`, `&`) as \u escapes, so neither `</script>`
 * nor `<!--` in a name can end or change the block; U+2028/2029 escaped for older parsers. JSON.parse reads
 * the escapes back as the same characters.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

// ---- Chart.js ----------------------------------------------------------------------------------------------------

let chartJsCache: string | undefined;

/**
 * Chart.js's UMD build (defines `window.Chart`). The package's `exports` hides package.json and dist/*, so
 * resolve its CommonJS entry (dist/chart.cjs) and take the UMD file beside it. The source-map comment is
 * dropped (it names a file the page does not carry), and `</script` could never end the inline block.
 */
export function chartJsSource(): string {
  if (chartJsCache === undefined) {
    const dist = dirname(createRequire(import.meta.url).resolve('chart.js'));
    chartJsCache = readFileSync(join(dist, 'chart.umd.js'), 'utf8')
      .replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n')
      .replace(/<\/(script)/gi, '<\\/$1');
  }
  return chartJsCache;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

// ---- per-layer and latency data from a report ------------------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
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
    const l = (isObj(metrics[s]) ? (metrics[s] as Obj).latency : undefined) as Obj | undefined;
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

// ---- the page -----------------------------------------------------------------------------------------------------

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const signedPp = (x: number) => `${x > 0 ? '+' : x < 0 ? '-' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;
const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;

function verdictBadge(pass: boolean): string {
  // The word carries the meaning; colour and the mark only help.
  return `<span class="verdict ${pass ? 'pass' : 'fail'}">${pass ? '✔ PASS' : '✘ FAIL'}</span>`;
}

/** A table whose first column heads each row; a cell reading PASS or FAIL gets that class (coloured). */
function table(head: string[], rows: string[][], cls: string): string {
  const td = (c: string) =>
    c === 'PASS' || c === 'FAIL'
      ? `<td class="${c.toLowerCase()}">${c === 'PASS' ? '✔ PASS' : '✘ FAIL'}</td>`
      : `<td>${escapeHtml(c)}</td>`;
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${escapeHtml(c)}</th>` : td(c))).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function canvas(id: string, points: number, label: string, extra: Record<string, number> = {}): string {
  const attrs = Object.entries(extra)
    .map(([k, v]) => ` data-${k}="${v}"`)
    .join('');
  return `<div class="chart"><canvas id="${escapeHtml(id)}" data-points="${points}"${attrs} role="img" aria-label="${escapeHtml(label)}"></canvas></div>`;
}

function thresholdsHtml(report: Report): string {
  if (report.thresholds.length === 0)
    return '<p class="note">No thresholds set: the build passes whatever it measures (add <code>thresholds:</code> to the recipe to gate it).</p>';
  return `<table class="thresholds"><thead><tr><th scope="col">check</th><th scope="col">threshold</th><th scope="col">measured</th></tr></thead><tbody>${report.thresholds
    .map(
      (c) =>
        `<tr class="${c.pass ? 'pass' : 'fail'}"><td>${c.pass ? '✔ PASS' : '✘ FAIL'}</td><th scope="row"><code>${escapeHtml(c.name)}</code></th><td class="text">${escapeHtml(c.text)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function layersHtml(report: Report, build: BuildData): string {
  const l = build.layers;
  if (!l) {
    const passes = (report.passes ?? []).map((p) => p.id).join(', ');
    return `<p class="note">No per-layer data: ${passes ? `none of this build's passes (${escapeHtml(passes)}) reported` : 'the recipe has no passes, so nothing reported'} sparsity or bits per layer (prune, quantize, cluster and encode do).</p>`;
  }
  const both = l.series.some((s) => s.axis === 'fraction') && l.series.some((s) => s.axis === 'bits');
  const fmt = (s: LayerSeries, v: number | null) =>
    v === null ? '' : s.axis === 'fraction' ? `${(v * 100).toFixed(1)}%` : v.toFixed(2);
  const rows = l.labels.map((layer, i) => [layer, ...l.series.map((s) => fmt(s, s.values[i] ?? null))]);
  return `<figure>${canvas(`chart-layers-${build.id}`, l.labels.length * l.series.length, `per-layer sparsity and bits of ${build.label}`, { layers: l.labels.length, series: l.series.length })}
<figcaption>Per layer with weights, as each pass reported it: ${[
    ...(l.series.some((s) => s.axis === 'fraction')
      ? [`sparsity reached (share of zeros${both ? ', left axis' : ''})`]
      : []),
    ...(l.series.some((s) => s.axis === 'bits')
      ? [
          `bits per stored weight (${both ? 'right axis; ' : ''}quantization scales included${l.series.some((s) => s.label.startsWith('index bits')) ? "; index bits: what an index into cluster's centroids needs" : ''})`,
        ]
      : []),
  ].join(' and ')}.</figcaption>
<details><summary>per-layer numbers</summary>${table(['layer', ...l.series.map((s) => s.label)], rows, 'layers')}</details></figure>`;
}

function latencyHtml(report: Report, build: BuildData): string {
  if (build.latency.length === 0) return '<p class="note">No latency in this report.</p>';
  const metrics = report.metrics as unknown as Obj;
  const comparison =
    isObj(metrics.latencyComparison) && Array.isArray(metrics.latencyComparison.batches)
      ? metrics.latencyComparison.batches.filter(isObj)
      : [];
  return build.latency
    .map((c) => {
      if (c.kind === 'summary') {
        return `<figure>${canvas(`chart-latency-${c.id}`, c.batchSizes.length * c.series.length, `latency of ${build.label}`, { batches: c.batchSizes.length, series: c.series.length })}
<figcaption>Milliseconds per forward pass at batch ${c.batchSizes.join(' and ')}: median, 95th percentile and fastest of each side's timed runs (this report kept no individual runs).</figcaption></figure>`;
      }
      const cmp = comparison.find((b) => b.batchSize === c.batchSize);
      const ratio = num(cmp?.ratio);
      const interval = Array.isArray(cmp?.interval) ? (cmp!.interval as unknown[]).map(num) : [];
      const medians = (s: number[]) =>
        s.length ? ms(s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 'n/a';
      const how =
        c.source === 'interleaved'
          ? `Baseline and result timed turn about in one run (ABBA, ${c.baseline.length} pairs)${ratio !== undefined ? `: speed-up ${ratio.toFixed(2)}x${interval[0] !== undefined && interval[1] !== undefined ? ` (95% interval ${interval[0].toFixed(2)}–${interval[1].toFixed(2)}x)` : ''}` : ''}`
          : `Each side timed by its own eval step (baseline ${c.baseline.length} runs, result ${c.result.length}), at different moments: load in between shifts one against the other`;
      return `<figure>${canvas(`chart-latency-${c.id}`, c.baseline.length + c.result.length, `latency distribution of ${build.label} at batch ${c.batchSize}`, { baseline: c.baseline.length, result: c.result.length })}
<figcaption>Batch ${c.batchSize}: every timed forward pass, sorted (x: share of runs at or below, y: ms). Lower is faster; a flat line is a steady machine. ${escapeHtml(how)}. Median: baseline ${medians(c.baseline)}, result ${medians(c.result)}.</figcaption></figure>`;
    })
    .join('\n');
}

function buildSection(entry: HtmlEntry, build: BuildData, single: boolean): string {
  const r = entry.report;
  const [head, ...rows] = metricRows(r);
  const note = latencyNote(r);
  const meta = [
    `recipe <code>${escapeHtml(r.recipe.file)}</code>`,
    ...(r.variant ? [`variant <code>${escapeHtml(r.variant.name)}</code>`] : []),
    `backend ${escapeHtml(r.backend)}`,
    `mcbuild ${escapeHtml(r.mcbuild)}`,
  ].join(' · ');
  const heading = single ? '' : `<h2>${escapeHtml(entry.label)} ${verdictBadge(r.verdict === 'pass')}</h2>\n`;
  return `<section class="build" id="${build.id}">
${heading}<p class="meta">${meta}</p>
<h3>Baseline vs result</h3>
${table(head!, rows, 'metrics')}
${note ? `<p class="note">${escapeHtml(note)}</p>` : ''}
<h3>Thresholds</h3>
${thresholdsHtml(r)}
<p class="build-verdict">Verdict: ${verdictBadge(r.verdict === 'pass')}</p>
<h3>Per layer</h3>
${layersHtml(r, build)}
<h3>Latency</h3>
<div class="grid">${latencyHtml(r, build)}</div>
</section>`;
}

/** The whole page. `chartJs` is Chart.js's UMD source (tests pass a stub to check the markup alone). */
export function renderHtml(page: HtmlPage, chartJs: string = chartJsSource()): string {
  const { entries } = page;
  const sweeps = page.sweeps ?? [];
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

  // A sweep's variants stand or fall by its gate (`best` passes with one passing variant); other builds by their own verdict.
  const standalone = entries.filter((e) => e.sweep === undefined);
  const pagePass = standalone.every((e) => e.report.verdict === 'pass') && sweeps.every((s) => s.verdict === 'pass');
  const single = entries.length === 1 && sweeps.length === 0;
  const passed = entries.filter((e) => e.report.verdict === 'pass').length;
  const name = single
    ? entries[0]!.label
    : sweeps.length === 1 && standalone.length === 0
      ? `${sweeps[0]!.recipe.name} (sweep of ${entries.length} variants)`
      : `${entries.length} builds`;
  const title = `mcbuild: ${name} — ${pagePass ? 'PASS' : 'FAIL'}`;

  const overview = single
    ? ''
    : `<section id="overview"><h2>Builds</h2>
${table(
  ['build', 'verdict', 'accuracy', 'vs baseline', 'size', 'smaller by', 'Pareto'],
  entries.map((e, i) => {
    const { baseline: b, result: r } = e.report.metrics;
    return [
      e.label,
      e.report.verdict.toUpperCase(),
      r.accuracy === undefined ? 'n/a' : pct(r.accuracy),
      r.accuracy === undefined || b.accuracy === undefined ? '' : signedPp(r.accuracy - b.accuracy),
      formatBytes(r.sizeBytes),
      `${(b.sizeBytes / Math.max(1, r.sizeBytes)).toFixed(2)}x`,
      onFront.has(i) ? '★' : '',
    ];
  }),
  'overview',
)}
<p class="note">★ on the Pareto front of size against accuracy among the builds on this page (no other is both smaller and more accurate). ${passed}/${entries.length} builds pass.</p>
${sweeps
  .map((s) => {
    const n = s.variants.filter((v) => v.verdict === 'pass').length;
    const rule = s.gate === 'best' ? 'gate best: at least one variant must pass' : 'gate all: every variant must pass';
    return `<p class="sweep">Sweep of <code>${escapeHtml(s.recipe.file)}</code> over ${Object.entries(s.matrix)
      .map(([k, v]) => `${escapeHtml(k)} (${v.length})`)
      .join(
        ' × ',
      )}: ${n}/${s.variants.length} variants pass (${rule})${s.best ? `; smallest passing: <code>${escapeHtml(s.best)}</code>` : ''} — sweep verdict ${verdictBadge(s.verdict === 'pass')}</p>`;
  })
  .join('\n')}
</section>`;

  const nav = single
    ? ''
    : `<nav><ul>${builds.map((b) => `<li><a href="#${b.id}">${escapeHtml(b.label)}</a></li>`).join('')}</ul></nav>`;
  const body = `<header><h1>${escapeHtml(`mcbuild: ${name}`)} ${verdictBadge(pagePass)}</h1>
${single ? '' : `<p class="meta">${passed}/${entries.length} builds pass${sweeps.length ? `; ${sweeps.length === 1 ? 'the sweep is' : 'sweeps are'} judged by ${sweeps.length === 1 ? 'its gate' : 'their gates'}` : ''}.</p>`}
<noscript><p class="note">The charts need JavaScript; every number they show is also in the tables.</p></noscript>
</header>
${nav}
<main>
${overview}
<section id="pareto"><h2>Size vs ${axis === 'accuracy' ? 'accuracy' : 'agreement with the baseline'}</h2>
<figure>${canvas('chart-pareto', results.length + baselines.size + front.length, 'size against accuracy of every build and baseline, with the Pareto front', { results: results.length, baselines: baselines.size, front: front.length })}
<figcaption>Each build's result (● passes its thresholds, ✕ misses one), its baseline (▲), and the Pareto front (ringed, joined by a dashed line): the builds no other build on this page beats on both size and ${axis === 'accuracy' ? 'accuracy' : "agreement (label-free eval data: the share of samples where the result predicts the baseline's class)"}. Size on a log scale.${leftOff.length ? ` Not on the chart (no ${axis} measured): ${escapeHtml(leftOff.join(', '))}.` : ''}</figcaption></figure>
</section>
${entries.map((e, i) => buildSection(e, builds[i]!, single)).join('\n')}
</main>
<footer><p class="note">Written by mcbuild from ${entries.length === 1 ? 'report.json' : `${entries.length} reports`}. Charts: Chart.js (MIT), inlined; this page loads nothing from the network.</p></footer>`;

  const csp = `default-src 'none'; script-src ${sha256(chartJs)} ${sha256(APP_JS)}; style-src ${sha256(CSS)}; base-uri 'none'; form-action 'none'`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="mcbuild">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
<script type="application/json" id="mcbuild-data">${scriptJson(data)}</script>
<script>${chartJs}</script>
<script>${APP_JS}</script>
</body>
</html>
`;
}

const CSS = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --card: #f6f8fa; --grid: rgba(31, 35, 40, 0.12); --pass: #1a7f37; --fail: #cf222e; --link: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --border: #3d444d; --card: #151b23; --grid: rgba(230, 237, 243, 0.14); --pass: #3fb950; --fail: #f85149; --link: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 20px 40px; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.3em; margin: 32px 0 8px; border-bottom: 1px solid var(--border); padding-bottom: 4px; } h3 { font-size: 1.05em; margin: 20px 0 8px; }
a { color: var(--link); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
.meta, .note, figcaption { color: var(--muted); }
.note, figcaption { font-size: 13px; }
.verdict { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 0.8em; font-weight: 700; vertical-align: middle; border: 1px solid currentColor; }
.pass .verdict, .verdict.pass, tr.pass td:first-child { color: var(--pass); }
.verdict.fail, tr.fail td:first-child, td.fail { color: var(--fail); }
td.pass { color: var(--pass); } td.pass, td.fail { font-weight: 700; }
tr.pass td:first-child, tr.fail td:first-child { font-weight: 700; white-space: nowrap; }
table { border-collapse: collapse; margin: 4px 0 8px; font-variant-numeric: tabular-nums; max-width: 100%; display: block; overflow-x: auto; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--border); text-align: right; white-space: nowrap; }
thead th { color: var(--muted); font-weight: 600; }
th[scope=row], thead th:first-child { text-align: left; font-weight: 600; }
table.thresholds td.text { text-align: left; white-space: normal; }
table.thresholds th, table.thresholds td { text-align: left; }
nav ul { list-style: none; padding: 0; margin: 12px 0; display: flex; flex-wrap: wrap; gap: 6px 16px; }
figure { margin: 8px 0 16px; padding: 12px; background: var(--card); border: 1px solid var(--border); border-radius: 8px; min-width: 0; }
figcaption { margin-top: 8px; }
.chart { position: relative; height: 320px; }
#pareto .chart { height: 400px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 0 16px; }
details { margin-top: 8px; } summary { cursor: pointer; color: var(--muted); font-size: 13px; }
section.build { margin-top: 12px; }
footer { margin-top: 40px; }
`;

/**
 * The page's script: reads the data block and draws each chart on its canvas. Plain ES2020, no imports;
 * colours follow the page's light/dark variables.
 */
const APP_JS = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('mcbuild-data').textContent);
  var css = getComputedStyle(document.documentElement);
  var v = function (name) { return css.getPropertyValue(name).trim(); };
  Chart.defaults.color = v('--muted');
  Chart.defaults.borderColor = v('--grid');
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  // Legends show each dataset's marker (circle, cross, triangle, line) rather than a colour box.
  Chart.defaults.plugins.legend.labels.usePointStyle = true;
  Chart.defaults.plugins.legend.labels.boxHeight = 9;
  var palette = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#e15759', '#9c755f', '#ff9da7', '#bab0ac'];
  var baselineColor = v('--muted');
  var resultColor = '#f28e2b';
  var baselineSide = '#4e79a7';
  var bytes = function (n) { return n < 1000 ? n + ' B' : n < 1e6 ? (n / 1e3).toFixed(1) + ' kB' : n < 1e9 ? (n / 1e6).toFixed(2) + ' MB' : (n / 1e9).toFixed(2) + ' GB'; };
  var el = function (id) { return document.getElementById(id); };

  var p = data.pareto;
  var datasets = p.results.map(function (g, i) {
    return { mcbKind: 'result', label: g.recipe, data: g.points, backgroundColor: palette[i % palette.length], borderColor: palette[i % palette.length],
      pointStyle: g.points.map(function (q) { return q.pass ? 'circle' : 'crossRot'; }), pointRadius: 6, pointHoverRadius: 8, pointBorderWidth: 2 };
  });
  datasets.push({ mcbKind: 'baseline', label: 'baseline', data: p.baselines, pointStyle: 'triangle', pointRadius: 7, backgroundColor: baselineColor, borderColor: baselineColor });
  // The front: a ring around each of its results, joined by a dashed line (a front of one point still shows).
  datasets.push({ mcbKind: 'front', label: 'Pareto front', data: p.front, showLine: true, fill: false, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 10, pointHoverRadius: 10, pointStyle: 'circle', borderColor: v('--fg'), backgroundColor: 'transparent' });
  // Room around the points (a log axis pads by a factor), and size ticks only at 1, 2 and 5 of each decade.
  var sizes = datasets.reduce(function (all, d) { return all.concat(d.data.map(function (q) { return q.x; })); }, []);
  var lo = sizes.length ? Math.min.apply(null, sizes) : 1e3, hi = sizes.length ? Math.max.apply(null, sizes) : 1e6;
  var pad = hi / lo > 10 ? 1.25 : 1.6;
  new Chart(el('chart-pareto'), {
    type: 'scatter',
    data: { datasets: datasets },
    options: {
      scales: {
        x: { type: 'logarithmic', min: lo / pad, max: hi * pad, title: { display: true, text: 'size (log scale)' }, ticks: { autoSkip: false, callback: function (val) {
          var m = Number(val) / Math.pow(10, Math.floor(Math.log10(Number(val)) + 1e-9));
          return [1, 2, 5].some(function (k) { return Math.abs(m - k) < 1e-6; }) ? bytes(Number(val)) : '';
        } } },
        y: { grace: '8%', title: { display: true, text: p.axis === 'accuracy' ? 'accuracy (%)' : 'agreement with the baseline (%)' }, ticks: { callback: function (val) { return Number(val).toFixed(1) + '%'; } } }
      },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.raw.label + ': ' + c.raw.y.toFixed(2) + '%, ' + bytes(c.raw.x); } } } }
    }
  });

  data.builds.forEach(function (b) {
    if (b.layers) {
      var hasBits = b.layers.series.some(function (s) { return s.axis === 'bits'; });
      var hasFraction = b.layers.series.some(function (s) { return s.axis === 'fraction'; });
      var scales = {};
      if (hasFraction) scales.fraction = { type: 'linear', position: 'left', min: 0, max: 1, title: { display: true, text: 'sparsity' }, ticks: { callback: function (val) { return Math.round(val * 100) + '%'; } } };
      // Up to 32 bits (float32, the unquantized width), so 8-bit bars stand at a quarter, not at the top.
      if (hasBits) scales.bits = { type: 'linear', position: hasFraction ? 'right' : 'left', min: 0, suggestedMax: 32, ticks: { stepSize: 4 }, title: { display: true, text: 'bits per weight (float32 = 32)' }, grid: { drawOnChartArea: !hasFraction } };
      new Chart(el('chart-layers-' + b.id), {
        type: 'bar',
        data: { labels: b.layers.labels, datasets: b.layers.series.map(function (s, i) {
          return { mcbKind: s.axis, label: s.label, data: s.values, yAxisID: s.axis, backgroundColor: palette[i % palette.length] };
        }) },
        options: { scales: scales, plugins: { tooltip: { callbacks: { label: function (c) {
          var s = b.layers.series[c.datasetIndex];
          return s.label + ': ' + (s.axis === 'fraction' ? (c.raw * 100).toFixed(1) + '%' : Number(c.raw).toFixed(2));
        } } } } }
      });
    }
    b.latency.forEach(function (c) {
      var canvas = el('chart-latency-' + c.id);
      if (c.kind === 'summary') {
        new Chart(canvas, {
          type: 'bar',
          data: { labels: c.batchSizes.map(function (n) { return 'batch ' + n; }), datasets: c.series.map(function (s, i) {
            var color = s.side === 'baseline' ? baselineSide : resultColor;
            return { mcbKind: s.side, label: s.label, data: s.values, backgroundColor: color + ['ff', '99', '55'][Math.floor(i / 2)] };
          }) },
          options: { scales: { y: { title: { display: true, text: 'ms per forward pass' }, beginAtZero: true } } }
        });
        return;
      }
      var line = function (samples, side, color) {
        var n = samples.length;
        return { mcbKind: side, label: side + ' (' + n + ' runs)', borderColor: color, backgroundColor: color, pointRadius: n > 60 ? 0 : 2, borderWidth: 2,
          data: samples.map(function (y, i) { return { x: n > 1 ? (100 * i) / (n - 1) : 50, y: y }; }) };
      };
      new Chart(canvas, {
        type: 'line',
        data: { datasets: [line(c.baseline, 'baseline', baselineSide), line(c.result, 'result', resultColor)] },
        options: {
          parsing: true,
          scales: {
            x: { type: 'linear', min: 0, max: 100, title: { display: true, text: 'runs at or below (%)' } },
            y: { title: { display: true, text: 'ms per forward pass (batch ' + c.batchSize + ')' }, beginAtZero: false }
          },
          plugins: { tooltip: { callbacks: { label: function (t) { return t.dataset.label + ': ' + t.raw.y.toFixed(3) + ' ms'; } } } }
        }
      });
    });
  });
})();
`;
