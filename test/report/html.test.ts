/**
 * The parts of report.html on their own: escaping and templates, the page's entries and labels, the chart
 * series read from reports, and the inline assets. test/e2e/report-html.test.ts opens whole pages in Chromium.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { APP_JS, chartJsSource, CSS, sha256 } from '../../src/report/html/assets.js';
import { htmlPage } from '../../src/report/html/entries.js';
import { canvas, escapeHtml, scriptJson, table, verdictBadge } from '../../src/report/html/markup.js';
import { buildSection } from '../../src/report/html/sections.js';
import { chartData, latencyCharts, layerData } from '../../src/report/html/series.js';
import { renderHtml, summariseSweep, type Report } from '../../src/report/index.js';
import type { Metrics } from '../../src/metrics/index.js';

const metrics = (accuracy: number | undefined, sizeBytes: number, over: Partial<Metrics> = {}): Metrics => ({
  ...(accuracy === undefined ? {} : { accuracy }),
  count: 100,
  sizeBytes,
  gzipBytes: sizeBytes,
  brotliBytes: sizeBytes,
  files: [],
  params: 10,
  ...over,
});

const report = (name: string, accuracy: number, sizeBytes: number, over: Partial<Report> = {}): Report => ({
  generator: 'mcbuild',
  mcbuild: '0.0.0',
  recipe: { name, file: `${name}.yaml` },
  backend: 'cpu',
  versions: {},
  steps: [],
  metrics: { baseline: metrics(0.9, 1000), result: metrics(accuracy, sizeBytes) },
  passes: [],
  thresholds: [],
  verdict: 'pass',
  ...over,
});

describe('markup', () => {
  it('escapes text for content and attributes, and keeps a JSON block closed', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const json = scriptJson({ name: '</script><!-- & \u2028' });
    expect(json).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(json)).toEqual({ name: '</script><!-- & \u2028' });
  });

  it('tables head each row, mark PASS and FAIL cells, and escape every cell', () => {
    expect(
      table(
        ['a', 'b'],
        [
          ['<x>', 'PASS'],
          ['y', 'FAIL'],
        ],
        'c',
      ),
    ).toBe(
      '<table class="c"><thead><tr><th scope="col">a</th><th scope="col">b</th></tr></thead><tbody>' +
        '<tr><th scope="row">&lt;x&gt;</th><td class="pass">✔ PASS</td></tr>' +
        '<tr><th scope="row">y</th><td class="fail">✘ FAIL</td></tr></tbody></table>',
    );
    expect(verdictBadge(false)).toBe('<span class="verdict fail">✘ FAIL</span>');
    expect(canvas('c"1', 3, 'l<', { n: 2 })).toBe(
      '<div class="chart"><canvas id="c&quot;1" data-points="3" data-n="2" role="img" aria-label="l&lt;"></canvas></div>',
    );
  });
});

describe('entries', () => {
  it('labels builds by recipe and variant; the same label gets its place, else a number', () => {
    const page = htmlPage([
      { report: report('a', 0.9, 500), where: 'out1' },
      { report: report('a', 0.9, 500), where: 'out2' },
      { report: report('b', 0.9, 500) },
      { report: report('b', 0.9, 500) },
    ]);
    expect(page.entries.map((e) => e.label)).toEqual(['a (out1)', 'a (out2)', 'b #1', 'b #2']);
    expect(page.sweeps).toBeUndefined();
  });
});

describe('a sweep with a variant that did not build', () => {
  const sweepOf = (variants: Parameters<typeof summariseSweep>[3]) =>
    summariseSweep({ name: 's', file: 's.yaml' }, { dtype: ['int8', 'float16'] }, 'best', variants);
  const int8 = report('s', 0.9, 500, { variant: { name: 'dtype=int8', values: { dtype: 'int8' } } });
  const error = 'the quantize pass at s.yaml:7:5 changed no weight <of> the model';

  it('lists it as a failed row with its message, beside the variant that built', () => {
    const sweep = sweepOf([
      { name: 'dtype=int8', values: { dtype: 'int8' }, folder: 'dtype-int8', report: int8 },
      { name: 'dtype=float16', values: { dtype: 'float16' }, folder: 'dtype-float16', error },
    ]);
    const html = renderHtml(htmlPage([{ sweep, variants: [{ report: int8 }] }]), '');
    expect(html).toContain('<title>mcbuild: s (sweep of 2 variants) — PASS</title>');
    expect(html).toContain(
      '<tr><th scope="row">s dtype=float16</th><td class="fail">✘ FAIL</td>' + `<td>${escapeHtml(error)}</td></tr>`,
    );
    expect(html).toContain('1/2 variants pass');
  });

  it('a sweep where no variant built still gives a page that says why', () => {
    const sweep = sweepOf([
      { name: 'dtype=int8', values: { dtype: 'int8' }, folder: 'dtype-int8', error },
      { name: 'dtype=float16', values: { dtype: 'float16' }, folder: 'dtype-float16', error },
    ]);
    const html = renderHtml(htmlPage([{ sweep, variants: [] }]), '');
    expect(html).toContain('<title>mcbuild: s (sweep of 2 variants) — FAIL</title>');
    expect(html.match(/<td class="fail">✘ FAIL<\/td><td>the quantize pass/g)).toHaveLength(2);
  });

  it('a sweep whose variants all built has no such table', () => {
    const sweep = sweepOf([{ name: 'dtype=int8', values: { dtype: 'int8' }, folder: 'dtype-int8', report: int8 }]);
    expect(renderHtml(htmlPage([{ sweep, variants: [{ report: int8 }] }]), '')).not.toContain('did not build');
  });
});

describe('chart series', () => {
  it('charts size against accuracy with one baseline per model and the Pareto front', () => {
    const { entries } = htmlPage([
      { report: report('small', 0.85, 200) },
      { report: report('big', 0.89, 600) },
      { report: report('worse', 0.8, 700, { verdict: 'fail' }) },
    ]);
    const c = chartData(entries);
    expect(c.data.pareto.axis).toBe('accuracy');
    expect(c.data.pareto.baselines).toEqual([{ x: 1000, y: 90, label: 'baseline of small, big, worse' }]);
    expect(c.data.pareto.front.map((p) => p.label)).toEqual(['small', 'big']);
    expect([...c.onFront].sort()).toEqual([0, 1]);
    expect(c.counts).toEqual({ results: 3, baselines: 1, front: 2 });
    expect(c.data.pareto.results[2]!.points[0]!.pass).toBe(false);
    expect(c.data.builds.map((b) => b.id)).toEqual(['build-1', 'build-2', 'build-3']);
  });

  it("reads per-layer series from the passes' stats, weighting a layer's kernels", () => {
    const r = report('p', 0.9, 500, {
      passes: [
        {
          id: 'pass-1-prune',
          stats: {
            layers: [
              { layer: 'd/kernel', sparsity: 0.5, total: 300 },
              { layer: 'd/bias', sparsity: 0, total: 100 },
            ],
          },
        },
        { id: 'pass-2-quantize', stats: { layers: [{ layer: 'e', bitsPerWeight: 8.5 }] } },
      ],
    });
    expect(layerData(r)).toEqual({
      labels: ['d', 'e'],
      series: [
        { label: 'sparsity (pass-1-prune)', axis: 'fraction', values: [0.375, null] },
        { label: 'bits per weight (pass-2-quantize)', axis: 'bits', values: [null, 8.5] },
      ],
    });
    expect(layerData(report('none', 0.9, 500))).toBeNull();
  });

  it('prefers the interleaved timing, then each side’s runs, then a summary without samples', () => {
    const side = (samplesMs?: number[]) => ({ medianMs: 2, p95Ms: 3, minMs: 1, ...(samplesMs ? { samplesMs } : {}) });
    const latency = (batches: object[]) =>
      ({ batches, warmupRuns: 1, backend: 'cpu', measuredAt: '', cores: 1, cpu: '' }) as unknown as NonNullable<
        Metrics['latency']
      >;
    const r = report('l', 0.9, 500);
    r.metrics.baseline.latency = latency([
      { batchSize: 1, ...side([3, 1]) },
      { batchSize: 8, ...side() },
    ]);
    r.metrics.result.latency = latency([
      { batchSize: 1, ...side([2]) },
      { batchSize: 8, ...side() },
    ]);
    r.metrics.latencyComparison = {
      batches: [{ batchSize: 32, baseline: side([4, 5]), result: side([2, 1]) }],
    } as unknown as NonNullable<Report['metrics']['latencyComparison']>;
    const charts = latencyCharts(r, 'b');
    // Sorted by batch size; batch 8 kept no samples, so it is one bar chart at the end.
    expect(charts.map((c) => [c.id, c.kind, c.kind === 'samples' ? c.source : c.batchSizes])).toEqual([
      ['b-b1', 'samples', 'separate'],
      ['b-b32', 'samples', 'interleaved'],
      ['b-summary', 'summary', [8]],
    ]);
    expect(charts[0]).toMatchObject({ baseline: [1, 3], result: [2] });
  });
});

describe('sections and assets', () => {
  it("a build's section shows its thresholds, escaped", () => {
    const r = report('s', 0.9, 500, {
      thresholds: [{ name: 'size.maxBytes', pass: false, measured: 500, limit: 1, text: 'size <b>' }],
      verdict: 'fail',
    });
    const { data } = chartData(htmlPage([{ report: r }]).entries);
    const html = buildSection(htmlPage([{ report: r }]).entries[0]!, data.builds[0]!, true);
    expect(html).toContain('<tr class="fail"><td>✘ FAIL</td><th scope="row"><code>size.maxBytes</code></th>');
    expect(html).toContain('<td class="text">size &lt;b&gt;</td>');
    expect(html).toContain('No latency in this report.');
  });

  it('inlines Chart.js without its source map or a closing script tag; hashes are CSP sources', () => {
    const js = chartJsSource();
    expect(js).toContain('Chart');
    expect(js).not.toMatch(/sourceMappingURL|<\/script/i);
    expect(sha256(CSS)).toBe(`'sha256-${createHash('sha256').update(CSS).digest('base64')}'`);
    expect(APP_JS).toContain("document.getElementById('mcbuild-data')");
  });
});
