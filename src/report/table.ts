import { showCosine, type StoredFidelity } from '../metrics/index.js';
import type { Report } from './json.js';
import { formatBytes } from '../util/bytes.js';
import { withThousands } from '../util/text.js';

type Styler = (style: 'green' | 'red' | 'bold', text: string) => string;

/** The metric rows of the table, header first; a column of changes since `previous` when given. */
export function metricRows(report: Report, previous?: Report): string[][] {
  const { baseline: b, result: r } = report.metrics;
  const p = previous?.metrics.result;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const signed = (x: number, f: (v: number) => string) => (x > 0 ? `+${f(x)}` : x < 0 ? `-${f(-x)}` : '±0');
  const pp = (v: number) => `${(v * 100).toFixed(2)} pp`;
  // Reports written before mcbuild measured transfer sizes lack gzipBytes / brotliBytes: show n/a there.
  const sizeRow = (label: string, key: 'sizeBytes' | 'gzipBytes' | 'brotliBytes'): string[] => {
    const [bv, rv, pv] = [b[key], r[key], p?.[key]] as (number | undefined)[];
    const show = (v: number | undefined) => (v === undefined ? 'n/a' : formatBytes(v));
    const delta =
      bv === undefined || rv === undefined
        ? ''
        : `${signed(rv - bv, formatBytes)} (${(bv / Math.max(1, rv)).toFixed(2)}x smaller)`;
    return [
      label,
      show(bv),
      show(rv),
      delta,
      ...(p ? [pv === undefined || rv === undefined ? '' : signed(rv - pv, formatBytes)] : []),
    ];
  };
  // Per-sample compute from the topology; n/a for graph models and reports from before mcbuild counted it.
  const countRow = (label: string, key: 'macs' | 'flops'): string[] => {
    const [bv, rv, pv] = [b[key], r[key], p?.[key]];
    const show = (v: number | undefined) => (v === undefined ? 'n/a' : withThousands(v));
    const count = withThousands;
    const delta =
      bv === undefined || rv === undefined
        ? ''
        : `${signed(rv - bv, count)}${rv > 0 && rv < bv ? ` (${(bv / rv).toFixed(2)}x fewer)` : bv > 0 && rv > bv ? ` (${(rv / bv).toFixed(2)}x more)` : ''}`;
    return [
      label,
      show(bv),
      show(rv),
      delta,
      ...(p ? [pv === undefined || rv === undefined ? '' : signed(rv - pv, count)] : []),
    ];
  };
  // Measured on this machine when each eval step ran (see latencyNote); the delta is a ratio, the only part
  // that carries over to another machine at all.
  // One row per batch size measured: the median, and the 95th percentile when measured.
  const latencyRow = (size: number): string[] => {
    const of = (m: typeof b | undefined) => m?.latency?.batches.find((x) => x.batchSize === size);
    const [bv, rv, pv] = [of(b), of(r), of(p)];
    const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
    const show = (v: typeof bv) =>
      v === undefined ? 'n/a' : `${ms(v.medianMs)}${v.p95Ms === undefined ? '' : ` (p95 ${ms(v.p95Ms)})`}`;
    const ratio = (x: number, y: number) => `${(y / x).toFixed(2)}x`;
    return [
      `latency b${size} *`,
      show(bv),
      show(rv),
      bv === undefined || rv === undefined ? '' : ratio(bv.medianMs, rv.medianMs),
      ...(p ? [pv === undefined || rv === undefined ? '' : ratio(pv.medianMs, rv.medianMs)] : []),
    ];
  };
  const latencySizes = [
    ...new Set([...(b.latency?.batches ?? []), ...(r.latency?.batches ?? [])].map((x) => x.batchSize)),
  ].sort((x, y) => x - y);
  return [
    ['metric', 'baseline', 'result', 'delta', ...(p ? ['vs previous build'] : [])],
    // Label-free eval data: no accuracy, the agreement and mean KL rows below say how close the result stays.
    b.accuracy !== undefined && r.accuracy !== undefined
      ? [
          'accuracy',
          `${pct(b.accuracy)}`,
          `${pct(r.accuracy)}`,
          signed(r.accuracy - b.accuracy, pp),
          ...(p ? [p.accuracy === undefined ? '' : signed(r.accuracy - p.accuracy, pp)] : []),
        ]
      : ['accuracy', 'n/a', 'n/a', 'no labels: fidelity only', ...(p ? [''] : [])],
    sizeRow('size', 'sizeBytes'),
    ...(report.size
      ? [
          [
            'size as float32',
            formatBytes(report.size.float32Bytes),
            '',
            'every source weight as float32',
            ...(p ? [''] : []),
          ],
        ]
      : []),
    sizeRow('size (gzip)', 'gzipBytes'),
    sizeRow('size (brotli)', 'brotliBytes'),
    ...(b.topK && r.topK
      ? [
          [
            `top-${r.topK.k} accuracy`,
            pct(b.topK.accuracy),
            pct(r.topK.accuracy),
            signed(r.topK.accuracy - b.topK.accuracy, pp),
            ...(p ? [p.topK ? signed(r.topK.accuracy - p.topK.accuracy, pp) : ''] : []),
          ],
        ]
      : []),
    ...worstClassRow(report, p !== undefined),
    ...fidelityRows(r.fidelity, p?.fidelity, p !== undefined),
    [
      'params',
      String(b.params),
      String(r.params),
      signed(r.params - b.params, String),
      ...(p ? [signed(r.params - p.params, String)] : []),
    ],
    ...(b.nonZeroParams !== undefined && r.nonZeroParams !== undefined
      ? [
          [
            'non-zero params',
            String(b.nonZeroParams),
            String(r.nonZeroParams),
            `${signed(r.nonZeroParams - b.nonZeroParams, String)} (${r.params ? ((1 - r.nonZeroParams / r.params) * 100).toFixed(1) : '0.0'}% zeros)`,
            ...(p ? [p.nonZeroParams === undefined ? '' : signed(r.nonZeroParams - p.nonZeroParams, String)] : []),
          ],
        ]
      : []),
    ...(b.peakBytes !== undefined && r.peakBytes !== undefined
      ? [
          [
            'peak memory',
            formatBytes(b.peakBytes),
            formatBytes(r.peakBytes),
            `${(r.peakBytes / Math.max(1, b.peakBytes)).toFixed(2)}x`,
            ...(p ? [p.peakBytes === undefined ? '' : `${(r.peakBytes / Math.max(1, p.peakBytes)).toFixed(2)}x`] : []),
          ],
        ]
      : []),
    countRow('MACs', 'macs'),
    countRow('FLOPs', 'flops'),
    ...(latencySizes.length ? latencySizes : [1, 32]).map(latencyRow),
    ...sideBySideRows(report, p !== undefined),
    ['samples', String(b.count), String(r.count), '', ...(p ? [''] : [])],
  ];
}

/**
 * The latency step's interleaved timing (when a latency threshold planned it): medians timed in turn, and the
 * speed-up with its bootstrap interval, the numbers latency thresholds read.
 */
function sideBySideRows(report: Report, withPrevious: boolean): string[][] {
  const c = report.metrics.latencyComparison;
  if (!c) return [];
  const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
  return c.batches.map((b) => [
    `latency b${b.batchSize} side by side †`,
    ms(b.baseline.medianMs),
    ms(b.result.medianMs),
    `${b.ratio >= 1 ? `${b.ratio.toFixed(2)}x faster` : `${(1 / b.ratio).toFixed(2)}x slower`} (speed-up ${Math.round(c.level * 100)}% CI ${b.interval[0].toFixed(2)}–${b.interval[1].toFixed(2)})`,
    ...(withPrevious ? [''] : []),
  ]);
}

/** The footnote of the side-by-side rows: how they were timed. */
export function sideBySideNote(report: Report): string | undefined {
  const c = report.metrics.latencyComparison;
  if (!c) return undefined;
  return `† side by side: baseline and result timed in turn (${c.order} pairs on the same inputs, ${c.batches.map((b) => `${b.runs} pairs at batch ${b.batchSize}`).join(', ')}) after ${c.warmupRuns} warm-up pass${c.warmupRuns === 1 ? '' : 'es'} each, backend ${c.backend}, ${c.cores} cores; speed-up = baseline median / result median, with a paired bootstrap interval. Latency thresholds read these rows.`;
}

/** The class whose accuracy fell most against the baseline's on that class: what a mean can hide. */
function worstClassRow(report: Report, withPrevious: boolean): string[][] {
  const { baseline: b, result: r } = report.metrics;
  if (!b.perClass || !r.perClass) return [];
  const worst = r.perClass
    .map((rc) => ({ rc, bc: b.perClass!.find((x) => x.class === rc.class) }))
    .filter((x) => x.bc && x.bc.count > 0)
    .sort((x, y) => x.rc.accuracy - x.bc!.accuracy - (y.rc.accuracy - y.bc!.accuracy) || x.rc.class - y.rc.class)[0];
  if (!worst) return [];
  const d = worst.rc.accuracy - worst.bc!.accuracy;
  const pp = (v: number) => `${v > 0 ? '+' : v < 0 ? '-' : '±'}${Math.abs(v * 100).toFixed(2)} pp`;
  return [
    [
      `most-hurt class (${worst.rc.class})`,
      `${(worst.bc!.accuracy * 100).toFixed(2)}%`,
      `${(worst.rc.accuracy * 100).toFixed(2)}%`,
      d === 0 ? '±0' : pp(d),
      ...(withPrevious ? [''] : []),
    ],
  ];
}

/**
 * The footnote of the latency rows: latency depends on the machine and is cached with its eval step, so
 * say where and when it was measured. Undefined when neither side has a latency.
 */
export function latencyNote(report: Report): string | undefined {
  const { baseline: b, result: r } = report.metrics;
  if (!b.latency && !r.latency) return undefined;
  const l = (r.latency ?? b.latency)!;
  const runs = (m: typeof l | undefined) => (m ? m.batches.map((x) => `${x.runs}`).join('/') : 'n/a');
  const when = (m: typeof l | undefined) =>
    m ? m.measuredAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'not measured';
  const sizes = l.batches.map((x) => x.batchSize).join('/');
  return `* latency: median (and 95th percentile) ms per forward pass after ${l.warmupRuns} warm-up pass${l.warmupRuns === 1 ? '' : 'es'} per batch size (runs at batch ${sizes}: baseline ${runs(b.latency)}, result ${runs(r.latency)}), backend ${l.backend}, ${l.cores} cores (${l.cpu}); measured when each eval step ran (baseline ${when(b.latency)}, result ${when(r.latency)}), machine-dependent, never gated (latency thresholds time baseline and result side by side).`;
}

/**
 * Baseline vs result, then one line per threshold. Colour only marks PASS/FAIL; the text reads the same
 * without it. Watch mode passes the previous build's report to add a column of changes since then.
 */
export function renderTable(report: Report, style: Styler = (_s, t) => t, previous?: Report): string {
  const rows = metricRows(report, previous);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const note of [latencyNote(report), sideBySideNote(report)]) if (note) out.push(note);
  out.push(...passLines(report));
  if (report.warnings?.length) out.push('', 'warnings:', ...report.warnings.map((w) => `  ${w}`));
  if (report.thresholds.length) {
    out.push('', 'thresholds:');
    for (const c of report.thresholds)
      out.push(`  ${c.pass ? style('green', 'PASS') : style('red', 'FAIL')}  ${c.name}: ${c.text}`);
  } else {
    out.push('', 'thresholds: none set (the build passes whatever it measures; add `thresholds:` to gate it)');
  }
  const verdict = report.verdict === 'pass' ? style('green', 'PASS') : style('red', 'FAIL');
  out.push('', `verdict: ${style('bold', verdict)} (backend ${report.backend})`);
  return out.join('\n');
}

/**
 * Fidelity to the baseline: classifier figures where an output is a distribution, distances for every
 * output, and one line per output when there are several (the figures above them are the worst).
 */
function fidelityRows(
  f: StoredFidelity | undefined,
  previous: StoredFidelity | undefined,
  compared: boolean,
): string[][] {
  if (!f) return [];
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const pp = (v: number) => `${v > 0 ? '+' : v < 0 ? '-' : '±'}${Math.abs(v * 100).toFixed(2)} pp`;
  const pad = compared ? [''] : [];
  const rows: string[][] = [];
  if (f.agreement !== undefined)
    rows.push([
      'agreement',
      '',
      pct(f.agreement),
      "result's top-1 = baseline's",
      ...(compared ? [previous?.agreement !== undefined ? pp(f.agreement - previous.agreement) : ''] : []),
    ]);
  if (f.meanKl !== undefined)
    rows.push(['mean KL', '', f.meanKl.toExponential(2), 'KL(baseline ‖ result), nats', ...pad]);
  if (f.cosine !== undefined)
    rows.push(['cosine', '', showCosine(f.cosine), 'mean per sample, to the baseline', ...pad]);
  if (f.maxRelError !== undefined)
    rows.push([
      'max rel. error',
      '',
      f.maxRelError.toExponential(2),
      `mean ${(f.meanRelError ?? 0).toExponential(2)}; |Δ| / the output's range`,
      ...pad,
    ]);
  const outputs = f.outputs ?? [];
  if (outputs.length > 1)
    for (const o of outputs)
      rows.push([
        `  output ${o.name}`,
        '',
        o.cosine !== undefined ? `cos ${showCosine(o.cosine)}` : `rel ${o.maxRelError.toExponential(2)}`,
        `${o.width} wide${o.agreement !== undefined ? `, agreement ${pct(o.agreement)}` : ''}, max rel. error ${o.maxRelError.toExponential(2)}`,
        ...pad,
      ]);
  return rows;
}

/** What each pass changed: "pass-1-quantize  4/4 tensors, 101,770/101,770 params changed". */
function passLines(report: Report): string[] {
  const rows = report.passes.flatMap((p) => {
    const c = p.changed as
      { tensors?: unknown; params?: unknown; totalTensors?: unknown; totalParams?: unknown } | undefined;
    if (typeof c?.tensors !== 'number' || typeof c.params !== 'number') return [];
    const n = (v: unknown) => (typeof v === 'number' ? withThousands(v) : '?');
    return [[p.id, `${n(c.tensors)}/${n(c.totalTensors)} tensors, ${n(c.params)}/${n(c.totalParams)} params changed`]];
  });
  if (!rows.length) return [];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return ['', 'passes:', ...rows.map(([id, text]) => `  ${id!.padEnd(width)}  ${text!}`)];
}
