import { readReport, renderMarkdown, renderTable } from '../report/index.js';
import type { Command } from './command.js';
import { stringOption } from './common.js';

const FORMATS = ['text', 'json', 'markdown'] as const;

export const reportCommand: Command = {
  name: 'report',
  summary: "print a build's report.json again: as the build's table, JSON or a markdown table (exit 0 pass, 1 fail)",
  usage: 'mcbuild report <output-dir | report.json> [--format text|json|markdown] [options]',
  positionals: { name: '<output-dir | report.json>', min: 1, max: 1 },
  options: {
    format: { type: 'string', value: 'F', description: 'text (default: the table a build prints), json, or markdown (a GitHub table with ✅/❌ thresholds)' },
  },
  examples: [
    'mcbuild report out/mnist-mlp-uint8',
    'mcbuild report out/mnist-mlp-uint8/report.json --json | jq .metrics.result.accuracy',
    'mcbuild report out/mnist-mlp-uint8 --format markdown >> "$GITHUB_STEP_SUMMARY"',
  ],
  async run(ctx) {
    const format = ctx.values.json ? 'json' : stringOption(ctx, 'format', FORMATS, 'text');
    const { report } = await readReport(ctx.positionals[0]!);
    if (format === 'json') ctx.out.jsonResult(report);
    else if (format === 'markdown') ctx.out.result(renderMarkdown(report));
    else ctx.out.result(renderTable(report, ctx.out.style));
    return report.verdict === 'pass' ? 0 : 1;
  },
};
