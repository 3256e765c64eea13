/**
 * report.html end to end: real tiny builds (a 3-variant prune + quantize sweep and a float16 recipe with an
 * interleaved latency gate, one cache), the pages they write, `mcbuild report a b c --html` and `--open`, each
 * page opened from disk in real headless Chromium: it renders (title, tables, verdicts), every chart has the
 * points its data says, no console errors, no request but the file itself. renderHtml's escaping and
 * determinism are checked on the markup alone.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, htmlPage, renderHtml, type Report, type Sweep } from '../../src/report/index.js';
import { asRunLog, mergeRun } from '../../src/report/run.js';
import { runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-html-e2e-');
const cacheDir = join(dir, 'cache');
const CHROMIUM = '/usr/bin/chromium';
// Debian's chromium is the browser under test; .ci/run installs it. Without it (a developer machine that lacks
// it) the browser checks are skipped, not failed: the markup checks below still run.
const hasChromium = existsSync(CHROMIUM) && spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).status === 0;

const LATENCY = 'runtime: { latency: { batchSizes: [1, 8], runs: 6 } }';
const sweepRecipe = writeText(
  join(dir, 'sweep.yaml'),
  tinyRecipe({
    passes: '  - prune: { sparsity: "${{ matrix.sparsity }}" }\n  - quantize: { dtype: uint8 }',
    thresholds: '  accuracy: { maxDrop: 0.5 }',
    output: './out/sweep',
    // gate best: 0.9 of a 32-unit MLP loses most of its accuracy, a failing variant the page must mark.
    extra: `matrix:\n  sparsity: [0.5, 0.75, 0.9]\ngate: best\n${LATENCY}\n`,
  }),
);
// Another recipe on the same baseline: float16, with a latency gate, so its eval times both models interleaved.
const fp16Recipe = writeText(
  join(dir, 'fp16.yaml'),
  tinyRecipe({
    passes: '  - quantize: { dtype: float16 }',
    thresholds: '  accuracy: { maxDrop: 0.5 }\n  latency: { minRatio: 0.01 }',
    output: './out/fp16',
    extra: `${LATENCY}\n`,
  }).replace('name: tiny', 'name: tiny-fp16'),
);
const variants = ['sparsity-0.5', 'sparsity-0.75', 'sparsity-0.9'];
const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
/** A build's report.json with its run.json merged back (the latency the page charts lives there), as readReport does. */
const readBuilt = (file: string): Report =>
  mergeRun(readJson<Report>(file), asRunLog(readJson(join(dirname(file), 'run.json'))));

let browser: Browser | undefined;

beforeAll(async () => {
  for (const file of [sweepRecipe, fp16Recipe]) {
    const r = await runCli([file, '--cache-dir', cacheDir], { cwd: dir });
    expect(r.code, r.all).toBe(0);
  }
  if (hasChromium) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }
}, 300_000);

afterAll(async () => {
  await browser?.close();
});

interface ChartInfo {
  id: string;
  attrs: Record<string, string>;
  type: string | null;
  labels: number;
  drawn: boolean;
  datasets: { kind: string; label: string; n: number; values: number }[];
}

interface Opened {
  page: Page;
  problems: string[];
  requests: string[];
  charts: ChartInfo[];
  text: string;
  title: string;
}

/** Opens a page from disk, waits for the charts, and reads back what each canvas holds. */
async function open(file: string): Promise<Opened> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  // In the page (a string, so the test needs no DOM types): each canvas, its data-* and its Chart's datasets.
  const charts = await page.evaluate<ChartInfo[]>(`[...document.querySelectorAll('canvas')].map((c) => {
    const chart = window.Chart && window.Chart.getChart(c);
    return {
      id: c.id,
      attrs: { ...c.dataset },
      type: chart ? chart.config.type : null,
      labels: chart && chart.data.labels ? chart.data.labels.length : 0,
      drawn: !!chart && chart.chartArea.right - chart.chartArea.left > 50 && chart.chartArea.bottom - chart.chartArea.top > 50,
      datasets: chart ? chart.data.datasets.map((d) => ({ kind: String(d.mcbKind), label: String(d.label), n: d.data.length, values: d.data.filter((x) => x !== null).length })) : [],
    };
  })`);
  return { page, problems, requests, charts, text: await page.innerText('body'), title: await page.title() };
}

const total = (c: ChartInfo) => c.datasets.reduce((n, d) => n + d.n, 0);
const byKind = (c: ChartInfo, kind: string) => c.datasets.filter((d) => d.kind === kind).reduce((n, d) => n + d.n, 0);

/** The number of latency points a report's chart should have per batch size: interleaved pairs, else each side's runs. */
function expectedLatency(report: Report): Map<number, { baseline: number; result: number } | 'summary'> {
  const out = new Map<number, { baseline: number; result: number } | 'summary'>();
  const m = report.metrics as unknown as {
    baseline: { latency?: { batches: { batchSize: number; samplesMs?: number[] }[] } };
    result: { latency?: { batches: { batchSize: number; samplesMs?: number[] }[] } };
    latencyComparison?: {
      batches: { batchSize: number; baseline: { samplesMs: number[] }; result: { samplesMs: number[] } }[];
    };
  };
  for (const b of m.baseline.latency?.batches ?? []) {
    const c = m.latencyComparison?.batches.find((x) => x.batchSize === b.batchSize);
    const r = m.result.latency?.batches.find((x) => x.batchSize === b.batchSize);
    if (c) out.set(b.batchSize, { baseline: c.baseline.samplesMs.length, result: c.result.samplesMs.length });
    else if (b.samplesMs || r?.samplesMs)
      out.set(b.batchSize, { baseline: b.samplesMs?.length ?? 0, result: r?.samplesMs?.length ?? 0 });
    else out.set(b.batchSize, 'summary');
  }
  return out;
}

function expectLatencyCharts(charts: ChartInfo[], build: string, report: Report) {
  const expected = expectedLatency(report);
  expect(expected.size).toBe(2); // batch 1 and 8
  for (const [size, want] of expected) {
    if (want === 'summary') continue;
    const chart = charts.find((c) => c.id === `chart-latency-${build}-b${size}`)!;
    expect(chart, `latency chart of ${build} at batch ${size}`).toBeDefined();
    expect(chart.type).toBe('line');
    expect(byKind(chart, 'baseline')).toBe(want.baseline);
    expect(byKind(chart, 'result')).toBe(want.result);
    expect(total(chart)).toBe(Number(chart.attrs.points));
    expect(chart.drawn).toBe(true);
  }
}

function expectClean(o: Opened, file: string) {
  expect(o.problems).toEqual([]);
  // The file itself and nothing else: Chart.js and the data are inline, the CSP forbids any other load.
  expect(o.requests).toEqual([pathToFileURL(file).href]);
}

describe('report.html beside report.json', () => {
  it.skipIf(!hasChromium)(
    'renders one variant: tables, thresholds, verdict, and charts with the points of its data',
    async () => {
      const folder = join(dir, 'out', 'sweep', variants[0]!);
      const file = join(folder, 'report.html');
      const report = readBuilt(join(folder, 'report.json'));
      const o = await open(file);
      expectClean(o, file);
      expect(o.title).toBe('mcbuild: tiny sparsity=0.5 — PASS');
      expect(o.text).toMatch(/accuracy\s+\d+\.\d\d%\s+\d+\.\d\d%/);
      expect(await o.page.locator('table.metrics tbody tr').count()).toBeGreaterThanOrEqual(8);
      expect(await o.page.locator('table.thresholds tbody tr').count()).toBe(report.thresholds.length);
      expect(await o.page.locator('table.thresholds tbody tr.pass').count()).toBe(1);
      expect(o.text).toMatch(/accuracy\.maxDrop/);
      expect(await o.page.locator('.build-verdict').innerText()).toMatch(/Verdict: ✔ PASS/);

      const pareto = o.charts.find((c) => c.id === 'chart-pareto')!;
      expect(pareto.type).toBe('scatter');
      expect(byKind(pareto, 'result')).toBe(1);
      expect(byKind(pareto, 'baseline')).toBe(1);
      expect(byKind(pareto, 'front')).toBe(1);
      expect(total(pareto)).toBe(Number(pareto.attrs.points));
      expect(pareto.drawn).toBe(true);

      // Per layer: the tiny MLP's two Dense layers, sparsity from prune and bits from quantize (uint8: 8 bits).
      const layers = o.charts.find((c) => c.id === 'chart-layers-build-1')!;
      expect(layers.type).toBe('bar');
      expect(layers.labels).toBe(2);
      expect(Number(layers.attrs.layers)).toBe(2);
      expect(layers.datasets.map((d) => [d.kind, d.values])).toEqual([
        ['fraction', 2],
        ['bits', 2],
      ]);
      expect(await o.page.locator('table.layers tbody tr').count()).toBe(2);
      expect(await o.page.locator('table.layers').textContent()).toMatch(/8\.00/); // inside a closed <details>: textContent
      expectLatencyCharts(o.charts, 'build-1', report);
      await o.page.close();
    },
  );

  it.skipIf(!hasChromium)(
    'charts the interleaved latency samples when the build timed both models turn about',
    async () => {
      const file = join(dir, 'out', 'fp16', 'report.html');
      const report = readBuilt(join(dir, 'out', 'fp16', 'report.json'));
      const o = await open(file);
      expectClean(o, file);
      expectLatencyCharts(o.charts, 'build-1', report);
      if (report.metrics.latencyComparison)
        expect(o.text).toMatch(/timed turn about in one run \(ABBA, 6 pairs\): speed-up \d+\.\d\dx/);
      // float16 keeps every weight: 16 bits per weight in every layer, and no sparsity series.
      const layers = o.charts.find((c) => c.id === 'chart-layers-build-1')!;
      expect(layers.datasets.map((d) => d.kind)).toEqual(['bits']);
      expect(await o.page.locator('table.layers').textContent()).toMatch(/fc_1\s*16\.00\s*predictions\s*16\.00/);
      await o.page.close();
    },
  );

  it.skipIf(!hasChromium)(
    'the sweep’s page beside sweep.json: one point per variant, the Pareto front, a section per variant',
    async () => {
      const file = join(dir, 'out', 'sweep', 'report.html');
      const sweep = readJson<Sweep>(join(dir, 'out', 'sweep', 'sweep.json'));
      const o = await open(file);
      expectClean(o, file);
      expect(o.title).toBe('mcbuild: tiny (sweep of 3 variants) — PASS');
      expect(await o.page.locator('table.overview tbody tr').count()).toBe(3);
      expect(await o.page.locator('section.build').count()).toBe(3);
      const pareto = o.charts.find((c) => c.id === 'chart-pareto')!;
      expect(byKind(pareto, 'result')).toBe(3);
      expect(byKind(pareto, 'baseline')).toBe(1);
      expect(byKind(pareto, 'front')).toBe(sweep.pareto.length);
      for (let i = 1; i <= 3; i++) expect(o.charts.find((c) => c.id === `chart-layers-build-${i}`)!.labels).toBe(2);
      const passing = sweep.variants.filter((v) => v.verdict === 'pass').length;
      expect(passing).toBeGreaterThan(0);
      expect(o.text).toContain(`${passing}/3 variants pass (gate best`);
      expect(await o.page.locator('table.overview tbody tr', { hasText: 'FAIL' }).count()).toBe(3 - passing);
      if (process.env.MCBUILD_SCREENSHOT)
        await o.page.screenshot({ path: process.env.MCBUILD_SCREENSHOT, fullPage: true });
      await o.page.close();
    },
  );
});

describe('mcbuild report --html / --open', () => {
  it('puts a sweep folder and another recipe’s build on one page, and prints where', async () => {
    const out = join(dir, 'pages', 'all.html');
    const r = await runCli([
      'report',
      join(dir, 'out', 'sweep'),
      join(dir, 'out', 'fp16', 'report.json'),
      '--html',
      out,
    ]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain(`report page: ${out}`);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<title>mcbuild: 4 builds — PASS</title>');
    expect(html).not.toContain(dir); // no absolute paths
    // The same inputs give the same bytes.
    const again = join(dir, 'pages', 'again.html');
    expect(
      (await runCli(['report', join(dir, 'out', 'sweep', 'sweep.json'), join(dir, 'out', 'fp16'), '--html', again]))
        .code,
    ).toBe(0);
    expect(readFileSync(again, 'utf8')).toBe(html);
    if (!browser) return;
    const o = await open(out);
    expectClean(o, out);
    const pareto = o.charts.find((c) => c.id === 'chart-pareto')!;
    // Two recipes: one colour (dataset) each; both start from the same trained model: one baseline point.
    expect(pareto.datasets.filter((d) => d.kind === 'result').map((d) => [d.label, d.n])).toEqual([
      ['tiny', 3],
      ['tiny-fp16', 1],
    ]);
    expect(byKind(pareto, 'baseline')).toBe(1);
    expect(await o.page.locator('table.overview tbody tr').count()).toBe(4);
    await o.page.close();
  });

  it('--open starts $BROWSER on report.html beside the report and does not wait for it', async () => {
    const record = join(dir, 'browser-arg.txt');
    const fakeBrowser = writeText(
      join(dir, 'fake-browser.sh'),
      `#!/bin/sh\nprintf '%s' "$1" > "${record}.tmp" && mv "${record}.tmp" "${record}"\n`,
    );
    chmodSync(fakeBrowser, 0o755);
    const folder = join(dir, 'out', 'fp16');
    const before = readFileSync(join(folder, 'report.html'));
    const r = await runCli(['report', folder, '--open'], { env: { BROWSER: fakeBrowser } });
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain(`report page: ${join(folder, 'report.html')}`);
    for (let i = 0; i < 100 && !existsSync(record); i++) await new Promise((f) => setTimeout(f, 50));
    const arg = readFileSync(record, 'utf8');
    expect(arg).toBe(join(folder, 'report.html'));
    expect(statSync(arg).isFile()).toBe(true);
    // The page the build wrote, rewritten with the same bytes.
    expect(readFileSync(arg).equals(before)).toBe(true);
  });

  it("--open with `%s` in $BROWSER passes the path literally, even one holding `$&` or `$'`", async () => {
    const record = join(dir, 'browser-arg-2.txt');
    const fakeBrowser = writeText(
      join(dir, 'fake-browser-2.sh'),
      `#!/bin/sh\nprintf '%s' "$2" > "${record}.tmp" && mv "${record}.tmp" "${record}"\n`,
    );
    chmodSync(fakeBrowser, 0o755);
    const folder = join(dir, "odd $& $' name");
    cpSync(join(dir, 'out', 'fp16'), folder, { recursive: true });
    const r = await runCli(['report', folder, '--open'], { env: { BROWSER: `${fakeBrowser} --new-window %s` } });
    expect(r.code, r.all).toBe(0);
    for (let i = 0; i < 100 && !existsSync(record); i++) await new Promise((f) => setTimeout(f, 50));
    expect(readFileSync(record, 'utf8')).toBe(join(folder, 'report.html'));
  });

  it('--open with several reports writes a temporary page; without any opener it prints the path and a hint, exit 0', async () => {
    const r = await runCli(['report', join(dir, 'out', 'sweep', variants[1]!), join(dir, 'out', 'fp16'), '--open'], {
      env: { BROWSER: '', PATH: join(dir, 'no-such-bin') },
    });
    expect(r.code, r.all).toBe(0);
    const file = /report page: (.+)$/m.exec(r.stdout)?.[1];
    expect(file).toMatch(/mcbuild-report-[^/]+\/report\.html$/);
    expect(readFileSync(file!, 'utf8')).toContain('<title>mcbuild: 2 builds — PASS</title>');
    expect(r.stdout).toMatch(
      /could not open a browser \(xdg-open: not found\); open the file above yourself, or set BROWSER/,
    );
    rmSync(dirname(file!), { recursive: true, force: true });
  });

  it('unreadable inputs and misuse are usage errors (exit 2, no stack)', async () => {
    const cases: [string[], RegExp][] = [
      [['report', join(dir, 'nope'), '--html', join(dir, 'x.html')], /nope does not exist/],
      [['report', dir, '--html', join(dir, 'x.html')], /holds neither report\.json nor sweep\.json/],
      [['report', sweepRecipe, '--open'], /is a recipe; --html and --open chart built reports/],
      [
        ['report', join(dir, 'out', 'fp16'), join(dir, 'out', 'fp16'), join(dir, 'out', 'fp16')],
        /prints one report or compares two; to put more on one page add --html PATH or --open/,
      ],
      [
        ['report', join(dir, 'out', 'fp16'), '--html', join(dir, 'out', 'fp16', 'model.json', 'x.html')],
        /cannot write the HTML report to .*x\.html/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      expect(r.code, r.all).toBe(2);
      expect(r.stderr).toMatch(/^mcbuild: error MCB_(USAGE|OUTPUT): /);
      expect(r.stderr).toMatch(pattern);
      expect(stackLines(r.stderr)).toEqual([]);
    }
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });
});

describe('renderHtml', () => {
  const hostile = '</script><script>window.pwned = 1</script><!-- & "quoted" \'single\'';
  const report = (): Report => {
    const real = readBuilt(join(dir, 'out', 'sweep', variants[2]!, 'report.json'));
    return {
      ...real,
      recipe: { name: hostile, file: 'x</script>.yaml' },
      thresholds: [
        {
          name: 'accuracy.maxDrop',
          pass: false,
          measured: 1,
          limit: 0,
          text: `<img src=x onerror="window.pwned=2"> ${hostile}`,
        },
      ],
      verdict: 'fail',
    };
  };

  it('escapes every text and keeps the data block closed; the same input gives the same bytes', () => {
    const html = renderHtml(htmlPage([{ report: report() }]));
    expect(html.match(/<script\b/g)).toHaveLength(3); // the data block, Chart.js, the page's script: nothing injected
    expect(html).not.toContain('<img');
    expect(html).not.toContain('window.pwned = 1</script>');
    expect(html).toContain(escapeHtml(hostile));
    const data = /<script type="application\/json" id="mcbuild-data">([^<]*)<\/script>/.exec(html)?.[1];
    expect(data).toBeDefined();
    expect((JSON.parse(data!) as { pareto: { results: { recipe: string }[] } }).pareto.results[0]!.recipe).toBe(
      hostile,
    ); // read back exactly
    expect(renderHtml(htmlPage([{ report: structuredClone(report()) }]))).toBe(html);
  });

  it('allows exactly its own inline script and style by hash, and no load at all', () => {
    const html = renderHtml(htmlPage([{ report: report() }]), 'window.Chart = function () {};');
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!.replace(/&#39;/g, "'");
    expect(csp).toMatch(/^default-src 'none'; /);
    const hash = (t: string) => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    for (const s of scripts) expect(csp).toContain(hash(s));
    expect(csp).toContain(`style-src ${hash(/<style>([\s\S]*?)<\/style>/.exec(html)![1]!)}`);
    expect(html).not.toMatch(/\sstyle="/); // inline style attributes would be blocked by that policy
  });

  it.skipIf(!hasChromium)('a hostile recipe name stays text in the browser', async () => {
    const file = writeText(join(dir, 'hostile.html'), renderHtml(htmlPage([{ report: report() }])));
    const o = await open(file);
    expectClean(o, file);
    expect(await o.page.evaluate('window.pwned')).toBeUndefined();
    expect(o.title).toBe(`mcbuild: ${hostile} sparsity=0.9 — FAIL`);
    expect(o.text).toContain('✘ FAIL');
    expect(o.charts.find((c) => c.id === 'chart-pareto')!.datasets[0]!.label).toBe(hostile);
    await o.page.close();
  });

  it('with label-free eval data (no accuracy), charts size against agreement with the baseline', () => {
    const r = report();
    const { accuracy: _a, ...baseline } = r.metrics.baseline;
    const { accuracy: _b, ...result } = r.metrics.result;
    const html = renderHtml(htmlPage([{ report: { ...r, metrics: { ...r.metrics, baseline, result } } }]), '');
    const data = JSON.parse(/id="mcbuild-data">([^<]*)</.exec(html)![1]!) as {
      pareto: { axis: string; results: { points: { y: number }[] }[]; baselines: { y: number }[] };
    };
    expect(data.pareto.axis).toBe('agreement');
    expect(data.pareto.results[0]!.points[0]!.y).toBeCloseTo(r.metrics.result.fidelity!.agreement! * 100, 3);
    expect(data.pareto.baselines).toEqual([expect.objectContaining({ y: 100 })]);
    expect(html).toContain('<h2>Size vs agreement with the baseline</h2>');
  });

  it('says so when no pass reported per-layer data, and falls back to median/p95 bars without samples', () => {
    const r = report();
    const stripped: Report = {
      ...r,
      passes: r.passes.map((p) => ({ ...p, stats: { note: 'nothing per layer' } })),
      metrics: {
        ...r.metrics,
        baseline: {
          ...r.metrics.baseline,
          latency: {
            ...r.metrics.baseline.latency!,
            batches: r.metrics.baseline.latency!.batches.map(({ samplesMs: _s, ...b }) => b),
          },
        },
        result: {
          ...r.metrics.result,
          latency: {
            ...r.metrics.result.latency!,
            batches: r.metrics.result.latency!.batches.map(({ samplesMs: _s, ...b }) => b),
          },
        },
      },
    };
    const html = renderHtml(htmlPage([{ report: stripped }]), '');
    expect(html).toContain("No per-layer data: none of this build's passes (pass-1-prune, pass-2-quantize) reported");
    expect(html).not.toContain('id="chart-layers-');
    expect(html).toMatch(
      /<canvas id="chart-latency-build-1-summary" data-points="12" data-batches="2" data-series="6"/,
    );
  });
});
