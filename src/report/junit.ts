/**
 * JUnit XML for CI servers (Jenkins, GitLab, Azure Pipelines, CircleCI, GitHub test-report actions): one
 * <testsuite> per build (per variant of a matrix), one <testcase> per threshold check, a <failure> for a
 * missed one. The format is Ant's / Surefire's, as the Jenkins xUnit plugin's junit-10.xsd describes it
 * (the tests validate against a copy in test/fixtures/junit.xsd).
 */
import type { Report } from './json.js';

/** One build for the JUnit file: its report and how long it took (0 when unknown). */
export interface JUnitBuild {
  report: Report;
  seconds: number;
}

/** A variant of a matrix that stopped with an error (sweep.json's `error`): it has no report, only why. */
export interface JUnitFailedVariant {
  recipe: { name: string; file: string };
  variant: string;
  error: string;
}

/**
 * Text as XML 1.0 character data or attribute value: the five special characters escaped, characters XML 1.0
 * cannot hold (most C0 controls, lone surrogates, U+FFFE/U+FFFF) dropped, and in attributes tab, CR and LF
 * written as character references so that attribute-value normalisation keeps them.
 */
export function escapeXml(text: string, attribute = false): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (attribute && (ch === '\n' || ch === '\r' || ch === '\t')) out += `&#${c};`;
    else if (
      c === 0x9 ||
      c === 0xa ||
      c === 0xd ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      c >= 0x10000
    )
      out += ch;
    // Anything else is not a legal XML 1.0 character, not even as a reference: dropped.
  }
  return out;
}

const attrs = (a: Record<string, string | number | undefined>): string =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v), true)}"`)
    .join('');

/** Seconds as JUnit writes them: a plain decimal with at most 3 places (the schema's SUREFIRE_TIME). */
const time = (s: number): string => (Number.isFinite(s) && s > 0 ? s.toFixed(3) : '0');

/** The suite's name: the recipe's, with the variant of a matrix in brackets. */
export function suiteName(report: Report): string {
  return report.variant ? `${report.recipe.name} [${report.variant.name}]` : report.recipe.name;
}

function testsuite(b: JUnitBuild): { xml: string; tests: number; failures: number } {
  const r = b.report;
  const name = suiteName(r);
  const classname = `mcbuild.${name}`;
  const { baseline, result } = r.metrics;
  const properties: [string, string | number][] = [
    ['recipe', r.recipe.file],
    ['recipe.name', r.recipe.name],
    ...(r.variant ? ([['variant', r.variant.name]] as [string, string][]) : []),
    ['backend', r.backend],
    ['mcbuild', r.mcbuild],
    // Label-free eval data has no accuracy: those properties are left out, the result's fidelity stands in.
    ...(baseline.accuracy === undefined ? [] : ([['baseline.accuracy', baseline.accuracy]] as [string, number][])),
    ['baseline.sizeBytes', baseline.sizeBytes],
    ...(result.accuracy === undefined ? [] : ([['result.accuracy', result.accuracy]] as [string, number][])),
    ['result.sizeBytes', result.sizeBytes],
    ...(result.fidelity
      ? ([
          ['result.agreement', result.fidelity.agreement],
          ['result.meanKl', result.fidelity.meanKl],
        ] as [string, number][])
      : []),
    ['verdict', r.verdict],
  ];
  const cases =
    r.thresholds.length === 0
      ? [
          `    <testcase${attrs({ name: 'thresholds', classname, time: '0' })}>\n      <system-out>${escapeXml('no thresholds are set in the recipe: the build passes whatever it measures')}</system-out>\n    </testcase>`,
        ]
      : r.thresholds.map((c) => {
          const open = `    <testcase${attrs({ name: c.name, classname, time: '0' })}`;
          if (c.pass) return `${open}>\n      <system-out>${escapeXml(c.text)}</system-out>\n    </testcase>`;
          // JSON turns NaN/Infinity (a metric that was not measured) into null; here they stay as written by JS.
          const body = `${c.text}\nmeasured: ${c.measured}\nlimit: ${c.limit}\nrecipe: ${r.recipe.file}`;
          return `${open}>\n      <failure${attrs({ message: c.text, type: 'threshold' })}>${escapeXml(body)}</failure>\n    </testcase>`;
        });
  const tests = Math.max(1, r.thresholds.length);
  const failures = r.thresholds.filter((c) => !c.pass).length;
  const xml = [
    `  <testsuite${attrs({ name, tests, failures, errors: 0, skipped: 0, time: time(b.seconds), package: 'mcbuild' })}>`,
    '    <properties>',
    ...properties.map(([k, v]) => `      <property${attrs({ name: k, value: v })}/>`),
    '    </properties>',
    ...cases,
    '  </testsuite>',
  ].join('\n');
  return { xml, tests, failures };
}

/**
 * A failed variant's suite: one <error> test case holding the message, so the CI's test view lists the variant
 * and why it has no threshold results, rather than leaving it out.
 */
function failedSuite(v: JUnitFailedVariant): { xml: string; tests: number; failures: number; errors: number } {
  const name = `${v.recipe.name} [${v.variant}]`;
  const xml = [
    `  <testsuite${attrs({ name, tests: 1, failures: 0, errors: 1, skipped: 0, time: '0', package: 'mcbuild' })}>`,
    '    <properties>',
    ...(
      [
        ['recipe', v.recipe.file],
        ['recipe.name', v.recipe.name],
        ['variant', v.variant],
        ['verdict', 'fail'],
      ] as const
    ).map(([k, value]) => `      <property${attrs({ name: k, value })}/>`),
    '    </properties>',
    `    <testcase${attrs({ name: 'build', classname: `mcbuild.${name}`, time: '0' })}>`,
    `      <error${attrs({ message: v.error, type: 'variant' })}>${escapeXml(`${v.error}\nrecipe: ${v.recipe.file}`)}</error>`,
    '    </testcase>',
    '  </testsuite>',
  ].join('\n');
  return { xml, tests: 1, failures: 0, errors: 1 };
}

/**
 * The JUnit XML document for one or more builds: a matrix gives one suite per variant, in the sweep's order, a
 * variant that stopped with an error included (an <error> test case).
 */
export function renderJUnit(builds: readonly (JUnitBuild | JUnitFailedVariant)[]): string {
  const suites = builds.map((b) => ('report' in b ? { ...testsuite(b), errors: 0 } : failedSuite(b)));
  const total = builds.reduce((s, b) => s + ('seconds' in b && Number.isFinite(b.seconds) ? b.seconds : 0), 0);
  const sum = (k: 'tests' | 'failures' | 'errors') => suites.reduce((n, s) => n + s[k], 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'mcbuild', tests: sum('tests'), failures: sum('failures'), errors: sum('errors'), skipped: 0, time: time(total) })}>`,
    ...suites.map((s) => s.xml),
    '</testsuites>',
    '',
  ].join('\n');
}

/**
 * A build that stopped with an error (a bad recipe, a missing model): one suite with one <error> test case, so
 * the CI's test view shows why there are no threshold results instead of showing nothing.
 */
export function renderJUnitError(recipeFile: string, error: { code?: string; message: string }): string {
  const classname = 'mcbuild';
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'mcbuild', tests: 1, failures: 0, errors: 1, skipped: 0, time: '0' })}>`,
    `  <testsuite${attrs({ name: recipeFile, tests: 1, failures: 0, errors: 1, skipped: 0, time: '0', package: 'mcbuild' })}>`,
    `    <testcase${attrs({ name: 'build', classname, time: '0' })}>`,
    `      <error${attrs({ message: error.message, type: error.code ?? 'Error' })}>${escapeXml(error.message)}</error>`,
    '    </testcase>',
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
