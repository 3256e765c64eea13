/** One build's section of the page: its numbers, thresholds, per-layer and latency charts. */
import type { Report } from '../json.js';
import { latencyNote, metricRows } from '../table.js';
import type { HtmlEntry } from './entries.js';
import { canvas, escapeHtml, table, verdictBadge } from './markup.js';
import { isObj, num, type BuildData, type LayerSeries, type Obj } from './series.js';

const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;

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
      const interval = Array.isArray(cmp?.interval) ? (cmp.interval as unknown[]).map(num) : [];
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

export function buildSection(entry: HtmlEntry, build: BuildData, single: boolean): string {
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
