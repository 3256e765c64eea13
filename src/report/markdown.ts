import type { Report } from './json.js';
import { latencyNote, metricRows, sideBySideNote } from './table.js';

/** A cell of a GitHub table: pipes escaped, line breaks flattened. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * report.json as GitHub-flavoured markdown, for a pull-request comment or a CI job summary: the metrics
 * table (metric | baseline | result | delta), one ✅/❌ line per threshold, and the verdict.
 */
export function renderMarkdown(report: Report): string {
  const pass = report.verdict === 'pass';
  const [header, ...rows] = metricRows(report);
  const out = [
    `### mcbuild: ${cell(report.recipe.name)} — ${pass ? '✅ PASS' : '❌ FAIL'}`,
    '',
    `| ${header!.map(cell).join(' | ')} |`,
    '| --- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    '',
    // The latency rows' footnote: where and when it was measured (machine-dependent, cached with the eval step).
    ...(latencyNote(report) ? [`<sub>${cell(latencyNote(report)!)}</sub>`, ''] : []),
    ...(sideBySideNote(report) ? [`<sub>${cell(sideBySideNote(report)!)}</sub>`, ''] : []),
    '**Thresholds**',
    '',
  ];
  if (report.thresholds.length === 0) out.push('- none set: the build passes whatever it measures');
  for (const c of report.thresholds) out.push(`- ${c.pass ? '✅' : '❌'} \`${c.name}\`: ${c.text}`);
  out.push(
    '',
    `**Verdict: ${pass ? '✅ PASS' : '❌ FAIL'}** — recipe \`${report.recipe.file}\`, backend ${report.backend}, mcbuild ${report.mcbuild}`,
  );
  return `${out.join('\n')}\n`;
}
