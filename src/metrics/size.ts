import { modelToFiles, paramCount, type StoredModel } from '../engine/index.js';

export interface SizeMetrics {
  /** model.json plus weight shards, exactly as exported. */
  sizeBytes: number;
  params: number;
}

export function measureSize(model: StoredModel): SizeMetrics {
  let sizeBytes = 0;
  for (const data of modelToFiles(model).values()) sizeBytes += data.byteLength;
  return { sizeBytes, params: paramCount(model) };
}
