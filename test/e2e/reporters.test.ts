/**
 * CI reporters end to end, on real tiny builds sharing one cache: `--reporter junit=PATH` (validated against a
 * vendored JUnit XSD with xmllint), GitHub Actions (the job summary and `::error` annotations at the line of
 * the recipe, or base recipe, that set the missed threshold), and the published JSON Schemas of report.json
 * and sweep.json, checked against what real builds write so they cannot drift silently.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  escapeData,
  escapeProperty,
  escapeXml,
  renderJUnit,
  workflowCommand,
  type Report,
} from '../../src/report/index.js';
import { ROOT, runCli, stackLines, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-reporters-e2e-');
const cacheDir = join(dir, 'cache');
const XSD = join(ROOT, 'test', 'fixtures', 'junit.xsd');
/** Nothing from the GitHub runner this test may run on leaks into the builds: each test sets what it wants. */
const NO_GITHUB = { GITHUB_ACTIONS: '', GITHUB_STEP_SUMMARY: '' };

// xmllint (Debian: libxml2-utils) is the schema validator; .ci/run installs it. On a machine without it the
// XSD checks are skipped rather than failed: the rest of each test still checks the XML's content.
const hasXmllint = spawnSync('xmllint', ['--version']).status === 0;

function xmllint(file: string): { ok: boolean; output: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

// ajv-formats is CommonJS: its default export is the plugin function (under .default when compiled as ESM).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const validateReport = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'schema', 'report.schema.json'), 'utf8')) as object,
);
const validateSweep = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'schema', 'sweep.schema.json'), 'utf8')) as object,
);

function expectValidReport(file: string): Report {
  const data = JSON.parse(readFileSync(file, 'utf8')) as Report;
  expect(validateReport(data), JSON.stringify(validateReport.errors, null, 2)).toBe(true);
  return data;
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

/** The thresholds live in a base recipe: annotations must point into it, not at the child. */
const base = writeText(
  join(dir, 'base.yaml'),
  'thresholds:\n  accuracy: { maxDrop: 0.05 }\n  size: { minRatio: 100 }\n',
);
const child = writeText(
  join(dir, 'child.yaml'),
  `extends: ./base.yaml\n${tinyRecipe().replace(/thresholds:\n.*\n/, '')}`,
);

describe('CI reporters', () => {
  it('junit + GitHub Actions: one test case per threshold, a failure for the missed one, the summary, and an annotation at the base recipe line', async () => {
    const summary = join(dir, 'summary.md');
    const r = await runCli(
      [
        'build',
        'child.yaml',
        '--cache-dir',
        cacheDir,
        '--reporter',
        'junit=reports/ci/junit.xml',
        '--reporter',
        'junit=second.xml',
      ],
      {
        cwd: dir,
        env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary },
      },
    );
    expect(r.code, r.all).toBe(1);

    const file = join(dir, 'reports', 'ci', 'junit.xml');
    const xml = readFileSync(file, 'utf8');
    expect(readFileSync(join(dir, 'second.xml'), 'utf8')).toBe(xml);
    expect(readdirSync(join(dir, 'reports', 'ci'))).toEqual(['junit.xml']); // no temporary file left behind
    if (hasXmllint) expect(xmllint(file)).toMatchObject({ ok: true });
    expect(count(xml, /<testsuite /g)).toBe(1);
    expect(xml).toMatch(/<testsuite name="tiny" tests="2" failures="1" errors="0" skipped="0" time="\d+(\.\d{1,3})?"/);
    expect(xml).toContain('<property name="recipe" value="child.yaml"/>');
    expect(xml).toMatch(/<property name="backend" value="\w+"\/>/);
    expect(xml).toMatch(/<property name="mcbuild" value="\d+\.\d+\.\d+[^"]*"\/>/);
    for (const p of ['baseline.accuracy', 'baseline.sizeBytes', 'result.accuracy', 'result.sizeBytes'])
      expect(xml).toMatch(new RegExp(`<property name="${p}" value="[0-9.]+"/>`));
    expect(xml).toMatch(
      /<testcase name="accuracy.maxDrop" classname="mcbuild.tiny" time="0">\n\s*<system-out>accuracy dropped by/,
    );
    expect(xml).toMatch(
      /<testcase name="size.minRatio" classname="mcbuild.tiny" time="0">\n\s*<failure message="compression ratio is [\d.]+x \([^"]+\); minimum 100x" type="threshold">/,
    );

    // The annotation: at `100` in base.yaml (line 3), relative to the working directory; only the missed check.
    const line = readFileSync(base, 'utf8').split('\n')[2]!;
    const annotations = r.stdout.split('\n').filter((l) => l.startsWith('::'));
    expect(annotations).toHaveLength(1);
    expect(annotations[0]).toMatch(
      new RegExp(
        `^::error file=base\\.yaml,line=3,col=${line.indexOf('100') + 1},title=mcbuild%3A size\\.minRatio::compression ratio is [\\d.]+x .*; minimum 100x$`,
      ),
    );

    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('### mcbuild: tiny — ❌ FAIL');
    expect(md).toMatch(/- ❌ `size\.minRatio`: compression ratio/);
    expect(md).toMatch(/- ✅ `accuracy\.maxDrop`/);

    expectValidReport(join(dir, 'out', 'report.json'));
  });

  it('--json keeps stdout one JSON document: the annotations go to stderr, where the runner reads them too', async () => {
    const summary = join(dir, 'summary-json.md');
    writeText(summary, '## earlier step\n');
    const r = await runCli(['build', child, '--cache-dir', cacheDir, '--json'], {
      cwd: dir,
      env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary },
    });
    expect(r.code, r.all).toBe(1);
    const json = JSON.parse(r.stdout) as { verdict: string; thresholds: unknown[] };
    expect(json.verdict).toBe('fail');
    expect(r.stderr).toMatch(/^::error file=base\.yaml,line=3,col=\d+,title=mcbuild%3A size\.minRatio::/m);
    // Appended, not overwritten: other steps' summaries stay.
    const md = readFileSync(summary, 'utf8');
    expect(md.startsWith('## earlier step\n')).toBe(true);
    expect(md).toContain('### mcbuild: tiny — ❌ FAIL');
  });

  it('a recipe without thresholds gives one passing test case "thresholds" that says none are set; no annotations off GitHub', async () => {
    const recipe = writeText(
      join(dir, 'none.yaml'),
      tinyRecipe({ output: './out-none' }).replace(/thresholds:\n.*\n/, ''),
    );
    const r = await runCli(['build', recipe, '--cache-dir', cacheDir, '--reporter', `junit=${join(dir, 'none.xml')}`], {
      cwd: dir,
      env: NO_GITHUB,
    });
    expect(r.code, r.all).toBe(0);
    const xml = readFileSync(join(dir, 'none.xml'), 'utf8');
    if (hasXmllint) expect(xmllint(join(dir, 'none.xml'))).toMatchObject({ ok: true });
    expect(xml).toMatch(/<testsuite name="tiny" tests="1" failures="0" errors="0" skipped="0"/);
    expect(xml).toMatch(
      /<testcase name="thresholds" classname="mcbuild.tiny" time="0">\n\s*<system-out>no thresholds are set/,
    );
    expect(xml).not.toContain('<failure');
    expect(r.all).not.toContain('::error');
    expect(expectValidReport(join(dir, 'out-none', 'report.json')).thresholds).toEqual([]);
  });

  it('a matrix: one suite per variant, the sweep table in the summary, and sweep.json and every report.json valid against the schemas', async () => {
    const recipe = writeText(
      join(dir, 'sweep.yaml'),
      tinyRecipe({
        passes: '  - quantize: { bits: "${{ matrix.bits }}" }',
        thresholds: '  size: { minRatio: 3 }',
        output: './out-sweep',
        extra: 'matrix:\n  bits: [8, 16]\n',
      }),
    );
    const summary = join(dir, 'summary-sweep.md');
    const r = await runCli(['build', 'sweep.yaml', '--cache-dir', cacheDir, '--reporter', 'junit=sweep.xml'], {
      cwd: dir,
      env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary },
    });
    expect(r.code, r.all).toBe(1); // gate: all, and 16 bits is only ~2x smaller

    const xml = readFileSync(join(dir, 'sweep.xml'), 'utf8');
    if (hasXmllint) expect(xmllint(join(dir, 'sweep.xml'))).toMatchObject({ ok: true });
    expect(xml).toMatch(/<testsuites name="mcbuild" tests="2" failures="1"/);
    expect(xml).toMatch(/<testsuite name="tiny \[bits=8\]" tests="1" failures="0"/);
    expect(xml).toMatch(/<testsuite name="tiny \[bits=16\]" tests="1" failures="1"/);
    expect(xml).toContain('<property name="variant" value="bits=16"/>');

    const sweepLine =
      readFileSync(recipe, 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('minRatio')) + 1;
    expect(r.stdout.split('\n').filter((l) => l.startsWith('::'))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^::error file=sweep\\.yaml,line=${sweepLine},col=\\d+,title=mcbuild%3A size\\.minRatio::variant bits=16: compression ratio`,
        ),
      ),
    ]);

    const md = readFileSync(summary, 'utf8');
    expect(md).toMatch(/### mcbuild sweep: tiny — ❌ FAIL\n\n\| variant \| accuracy/);
    expect(md).toMatch(/\| bits=8 \| [\d.]+% \| .* \| ✅ PASS \|/);
    expect(count(md, /^### mcbuild: tiny/gm)).toBe(2);

    const sweep = JSON.parse(readFileSync(join(dir, 'out-sweep', 'sweep.json'), 'utf8')) as {
      variants: { name: string; folder: string }[];
    };
    expect(validateSweep(sweep), JSON.stringify(validateSweep.errors, null, 2)).toBe(true);
    expect(sweep.variants).toHaveLength(2);
    for (const v of sweep.variants)
      expect(expectValidReport(join(dir, 'out-sweep', v.folder, 'report.json')).variant?.name).toBe(v.name);
  });

  // This and the hostile-XML test read the first test's out/report.json (tests in a file run in order).
  it('the schemas reject what report.json never holds (so a new field must be added to them)', () => {
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as Report &
      Record<string, unknown>;
    expect(validateReport({ ...report, extra: 1 })).toBe(false);
    expect(
      validateReport({ ...report, metrics: { ...report.metrics, result: { ...report.metrics.result, newMetric: 1 } } }),
    ).toBe(false);
    expect(validateReport({ ...report, verdict: 'maybe' })).toBe(false);
    // Every property of both schemas is described.
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      for (const key of ['properties', '$defs'] as const) {
        const props = n[key];
        if (typeof props !== 'object' || props === null) continue;
        for (const [name, sub] of Object.entries(props)) {
          if (typeof (sub as { description?: unknown }).description !== 'string')
            undescribed.push(`${path}/${key}/${name}`);
        }
      }
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    for (const s of ['report', 'sweep', 'run'])
      walk(JSON.parse(readFileSync(join(ROOT, 'schema', `${s}.schema.json`), 'utf8')), s);
    expect(undescribed).toEqual([]);
  });

  it('usage errors: an unknown reporter, a missing =PATH, --reporter with --watch (exit 2 with the fix, before building)', async () => {
    const unknown = await runCli(['build', child, '--reporter', 'xunit=a.xml'], { env: NO_GITHUB });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('mcbuild: error MCB_USAGE: --reporter "xunit=a.xml": unknown reporter "xunit"');
    expect(unknown.stderr).toContain('--reporter junit=reports/junit.xml');
    const bare = await runCli(['build', child, '--reporter', 'junit'], { env: NO_GITHUB });
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('needs the file to write after `=`, e.g. `--reporter junit=reports/junit.xml`');
    const watch = await runCli(['build', child, '--watch=force', '--reporter', 'junit=a.xml'], { env: NO_GITHUB });
    expect(watch.code).toBe(2);
    expect(watch.stderr).toContain('does not work with --watch');
    expect(stackLines(unknown.stderr + bare.stderr + watch.stderr)).toEqual([]);
  });

  it('an unwritable JUnit path is MCB_OUTPUT (exit 2); a build that fails before results writes an <error> test case', async () => {
    writeText(join(dir, 'blocker'), 'a file, not a folder\n');
    const r = await runCli(['build', child, '--cache-dir', cacheDir, '--reporter', 'junit=blocker/junit.xml'], {
      cwd: dir,
      env: NO_GITHUB,
    });
    expect(r.code, r.all).toBe(2);
    expect(r.stderr).toMatch(
      /mcbuild: error MCB_OUTPUT: cannot write the JUnit report to blocker\/junit\.xml: .*writable folder/,
    );

    const missing = await runCli(['build', join(dir, 'no-such.yaml'), '--reporter', 'junit=error.xml'], {
      cwd: dir,
      env: NO_GITHUB,
    });
    expect(missing.code).toBe(2);
    const xml = readFileSync(join(dir, 'error.xml'), 'utf8');
    if (hasXmllint) expect(xmllint(join(dir, 'error.xml'))).toMatchObject({ ok: true });
    expect(xml).toMatch(/<testsuites name="mcbuild" tests="1" failures="0" errors="1"/);
    expect(xml).toMatch(/<error message="[^"]*no-such\.yaml[^"]*" type="MCB_RECIPE_NOT_FOUND">/);
  });

  it.skipIf(!hasXmllint)(
    'XML escaping survives hostile text: the document stays valid and round-trips through xmllint',
    () => {
      const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as Report;
      const nasty = `a <b> & "c" 'd' ]]> \u0001\u0008 line\nbreak\ttab 🙂`;
      const hostile: Report = {
        ...report,
        recipe: { name: nasty, file: `dir/${nasty}.yaml` },
        thresholds: [{ name: 'size.minRatio', pass: false, measured: Number.NaN, limit: 2, text: nasty }],
      };
      const file = writeText(join(dir, 'hostile.xml'), renderJUnit([{ report: hostile, seconds: 1.23456 }]));
      expect(xmllint(file)).toMatchObject({ ok: true });
      // An XML parser decodes what we escaped: the text comes back, minus what XML 1.0 cannot hold (xmllint ends with a newline).
      const message = spawnSync('xmllint', ['--xpath', 'string(//failure/@message)', file], { encoding: 'utf8' });
      // eslint-disable-next-line no-control-regex -- the control characters XML 1.0 cannot hold
      expect(message.stdout.replace(/\n$/, '')).toBe(nasty.replace(/[\u0001\u0008]/g, ''));
      expect(readFileSync(file, 'utf8')).toContain('time="1.235"');
    },
  );

  it('a matrix variant that stopped with an error is a suite with an <error> holding its message, in sweep order', () => {
    const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as Report;
    const variant = (name: string): Report => ({ ...report, variant: { name, values: {} } });
    const message = 'the quantize pass at sweep.yaml:7:5 changed no weight of the model it received <0 of 4>';
    const file = writeText(
      join(dir, 'failed-variant.xml'),
      renderJUnit([
        { report: variant('bits=8'), seconds: 1 },
        { recipe: { name: 'tiny', file: 'sweep.yaml' }, variant: 'bits=16', error: message },
        { report: variant('bits=4'), seconds: 1 },
      ]),
    );
    if (hasXmllint) expect(xmllint(file)).toMatchObject({ ok: true });
    const xml = readFileSync(file, 'utf8');
    const tests = 2 * Math.max(1, report.thresholds.length) + 1;
    expect(xml).toMatch(new RegExp(`<testsuites name="mcbuild" tests="${tests}" failures="\\d+" errors="1"`));
    expect([...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1])).toEqual([
      `${report.recipe.name} [bits=8]`,
      'tiny [bits=16]',
      `${report.recipe.name} [bits=4]`,
    ]);
    expect(xml).toContain(
      '<testsuite name="tiny [bits=16]" tests="1" failures="0" errors="1" skipped="0" time="0" package="mcbuild">',
    );
    expect(xml).toContain(`<error message="${escapeXml(message, true)}" type="variant">`);
  });

  it('escaping rules: XML text and attributes, GitHub workflow command data and properties', () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
    expect(escapeXml('a\nb\u0000c', true)).toBe('a&#10;bc');
    expect(escapeXml('a\nb')).toBe('a\nb');
    expect(escapeData('50% off\r\nnext')).toBe('50%25 off%0D%0Anext');
    expect(escapeProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
    expect(
      workflowCommand('error', { file: 'r,1.yaml', line: 3, col: undefined, title: 'mcbuild: x' }, 'msg: 1, 2\n3'),
    ).toBe('::error file=r%2C1.yaml,line=3,title=mcbuild%3A x::msg: 1, 2%0A3');
  });
});
