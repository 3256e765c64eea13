export { buildReport, type Report } from './json.js';
export { renderTable } from './table.js';
export { buildWarnings, sizeSummary, type SizeSummary } from './warnings.js';
export { renderMarkdown } from './markdown.js';
export { readReport, readReportOrSweep, type ReportOrSweep } from './read.js';
export { preflightOutput, writeOutput, REPORT_FILE } from './output.js';
export { paretoFront, renderSweep, summariseSweep, SWEEP_FILE, type Sweep, type SweepVariant } from './sweep.js';
export {
  chartJsSource,
  escapeHtml,
  HTML_FILE,
  htmlPage,
  renderHtml,
  type HtmlEntry,
  type HtmlItem,
  type HtmlPage,
} from './html/index.js';
export { compareReports, renderComparison, type ReportComparison } from './compare.js';
export {
  escapeXml,
  renderJUnit,
  renderJUnitError,
  suiteName,
  type JUnitBuild,
  type JUnitFailedVariant,
} from './junit.js';
export {
  appendStepSummary,
  escapeData,
  escapeProperty,
  renderStepSummary,
  renderSweepMarkdown,
  thresholdAnnotations,
  workflowCommand,
} from './github.js';
export { asRunLog, isMeasuredCheck, mergeRun, RUN_FILE, splitReport, type RunLog } from './run.js';
