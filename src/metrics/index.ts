export { measureSize, type SizeMetrics } from './size.js';

/** What an eval step stores: the numbers thresholds and reports read. */
export interface Metrics {
  accuracy: number;
  correct: number;
  count: number;
  sizeBytes: number;
  params: number;
}
