/**
 * Size metrics: bytes on disk and bytes over the wire. Every file is compressed on its own, as a web server
 * or CDN sends model.json and each weight shard as separate responses with Content-Encoding gzip or br.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { modelToFiles, paramCount, type StoredModel, decodeWeights } from '../model/index.js';

/**
 * gzip at its strongest level, what static pre-compression (gzip -9, nginx gzip_static) serves. About 0.7 s
 * for 25 MB of float32 weights, but float32 weights with few distinct values (clustered, not quantized
 * after) are its slow case: ~13 s for 25 MB, ~2.5 s even at level 6.
 */
export const GZIP_LEVEL = 9;
/**
 * Brotli quality 5 of 11: 0–10% larger than quality 9 on model weights, but 25 MB of float32 weights
 * compress in under a second on one core (0.3 s random-like, 0.9 s clustered; quality 9 took 1.4–4 s, the
 * default 11 over a minute). Window 22 (4 MiB), the default.
 */
export const BROTLI_QUALITY = 5;

export interface FileSize {
  /** File name as exported: model.json, group1-shard1of2.bin, … */
  name: string;
  /** Raw bytes. */
  bytes: number;
  /** Bytes after gzip, level GZIP_LEVEL. */
  gzip: number;
  /** Bytes after brotli, quality BROTLI_QUALITY. */
  brotli: number;
}

export interface SizeMetrics {
  /** model.json plus weight shards, exactly as exported. */
  sizeBytes: number;
  /** Sum of the gzip sizes of the exported files, each compressed on its own. */
  gzipBytes: number;
  /** Sum of the brotli sizes of the exported files, each compressed on its own. */
  brotliBytes: number;
  /** Each exported file, model.json first, then the shards in order. */
  files: FileSize[];
  params: number;
}

export function measureSize(model: StoredModel): SizeMetrics {
  const files = measureFiles(modelToFiles(model));
  const sum = (k: 'bytes' | 'gzip' | 'brotli') => files.reduce((n, f) => n + f[k], 0);
  return {
    sizeBytes: sum('bytes'),
    gzipBytes: sum('gzip'),
    brotliBytes: sum('brotli'),
    files,
    params: paramCount(model),
  };
}

/**
 * What a model step records about its output: raw bytes and parameters, no compression. Only the eval
 * steps' sizes reach reports and gates, so only they pay for gzip and brotli (measureSize).
 */
export function measureRawSize(
  files: ReadonlyMap<string, Uint8Array>,
  model: StoredModel,
): { sizeBytes: number; params: number } {
  let sizeBytes = 0;
  for (const data of files.values()) sizeBytes += data.byteLength;
  return { sizeBytes, params: paramCount(model) };
}

/** Raw, gzip and brotli size of each file, in the map's order. */
export function measureFiles(files: ReadonlyMap<string, Uint8Array>): FileSize[] {
  return [...files].map(([name, data]) => ({
    name,
    bytes: data.byteLength,
    gzip: gzipSize(data),
    brotli: brotliSize(data),
  }));
}

export function gzipSize(data: Uint8Array): number {
  return gzipSync(data, { level: GZIP_LEVEL }).byteLength;
}

export function brotliSize(data: Uint8Array): number {
  return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } }).byteLength;
}

/** Parameters that are not exactly zero, over the decoded weights (as the runtime sees them). */
export function nonZeroParams(model: StoredModel): number {
  let n = 0;
  for (const w of decodeWeights(model, { share: true })) {
    const v = w.values;
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) n++;
  }
  return n;
}
