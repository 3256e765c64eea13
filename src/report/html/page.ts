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
import { formatBytes } from '../../util/bytes.js';
import { APP_JS, chartJsSource, CSS, sha256 } from './assets.js';
import type { Sweep } from '../sweep.js';
import type { HtmlPage } from './entries.js';
import { canvas, escapeHtml, scriptJson, table, verdictBadge } from './markup.js';
import { buildSection } from './sections.js';
import { chartData } from './series.js';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const signedPp = (x: number) => `${x > 0 ? '+' : x < 0 ? '-' : '±'}${Math.abs(x * 100).toFixed(2)} pp`;

/**
 * The variants of the page's sweeps that stopped with an error (sweep.json's `error`, e.g. a pass that changed
 * nothing): they have no report, so no section or chart point; each is a row marked failed, with the message.
 */
function failedTable(sweeps: readonly Sweep[]): string {
  const rows = sweeps.flatMap((s) =>
    s.variants.flatMap((v) => (v.error === undefined ? [] : [[`${s.recipe.name} ${v.name}`, 'FAIL', v.error]])),
  );
  if (!rows.length) return '';
  return `<h3>Variants that did not build</h3>
${table(['variant', 'verdict', 'error'], rows, 'failed')}
<p class="note">${rows.length === 1 ? 'This variant stopped' : 'These variants stopped'} before any result: ${rows.length === 1 ? 'it counts' : 'each counts'} as a failed variant in the sweep's gate, and the other variants were built.</p>`;
}

/** The whole page. `chartJs` is Chart.js's UMD source (tests pass a stub to check the markup alone). */
export function renderHtml(page: HtmlPage, chartJs: string = chartJsSource()): string {
  const { entries } = page;
  const sweeps = page.sweeps ?? [];
  const { data, onFront, leftOff, counts } = chartData(entries);
  const { axis } = data.pareto;
  const { builds } = data;

  // A sweep's variants stand or fall by its gate (`best` passes with one passing variant); other builds by their own verdict.
  const standalone = entries.filter((e) => e.sweep === undefined);
  const pagePass = standalone.every((e) => e.report.verdict === 'pass') && sweeps.every((s) => s.verdict === 'pass');
  const single = entries.length === 1 && sweeps.length === 0;
  const passed = entries.filter((e) => e.report.verdict === 'pass').length;
  const name = single
    ? entries[0]!.label
    : sweeps.length === 1 && standalone.length === 0
      ? `${sweeps[0]!.recipe.name} (sweep of ${sweeps[0]!.variants.length} variants)`
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
${failedTable(sweeps)}
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
<figure>${canvas('chart-pareto', counts.results + counts.baselines + counts.front, 'size against accuracy of every build and baseline, with the Pareto front', { results: counts.results, baselines: counts.baselines, front: counts.front })}
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
