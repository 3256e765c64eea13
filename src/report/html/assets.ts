/**
 * What every page carries inline: Chart.js, the page's script and its style sheet, and the hashes by which the
 * page's Content-Security-Policy allows exactly them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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

/** A CSP source expression allowing exactly this inline text. */
export const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export const CSS = `
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
export const APP_JS = `
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
