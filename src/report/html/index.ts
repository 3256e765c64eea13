export { chartJsSource } from './assets.js';
export { HTML_FILE, htmlPage, type HtmlEntry, type HtmlItem, type HtmlPage } from './entries.js';
export { escapeHtml, scriptJson } from './markup.js';
export { renderHtml } from './page.js';
export { chartData, latencyCharts, layerData } from './series.js';
