export { BROTLI_QUALITY, brotliSize, GZIP_LEVEL, gzipSize, measureFiles, measureRawSize, measureSize, type FileSize, type SizeMetrics } from './size.js';
import type { FileSize } from './size.js';

/** What an eval step stores: the numbers thresholds and reports read. */
export interface Metrics {
  accuracy: number;
  correct: number;
  count: number;
  /** model.json plus weight shards, raw, exactly as exported. */
  sizeBytes: number;
  /** Sum of each exported file's gzip (level 9) size: bytes over the wire with Content-Encoding gzip. */
  gzipBytes: number;
  /** Sum of each exported file's brotli (quality 5) size: bytes over the wire with Content-Encoding br. */
  brotliBytes: number;
  /** Each exported file with its raw, gzip and brotli size. */
  files: FileSize[];
  params: number;
}
