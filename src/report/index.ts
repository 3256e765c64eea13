export { buildReport, type Report } from './json.js';
export { renderTable } from './table.js';
export { preflightOutput, writeOutput, REPORT_FILE } from './output.js';
