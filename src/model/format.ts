/**
 * The TF.js model format (model.json + binary weight shards) as mcbuild holds it in memory: weight specs,
 * quantization dtypes, the hostile-input limits and the counts reports use. No TF.js, no file system.
 */
import { storedByteLength, type PackedQuantization } from '../runtime/decode.js';
import type { CodebookQuantization, EntropyEncoding } from '../runtime/encoded.js';

/** TF.js-native quantization dtypes (stock TF.js decodes them), then mcbuild's packed ones (docs/packed-format.md). */
export type NativeQuantizationDtype = 'uint8' | 'uint16' | 'float16';
export type QuantizationDtype = NativeQuantizationDtype | PackedQuantization['dtype'] | 'bfloat16';

export interface NativeQuantization {
  dtype: NativeQuantizationDtype;
  min?: number;
  scale?: number;
  original_dtype?: string;
}

/** bfloat16 (mcbuild/runtime): the upper half of each float32. */
export interface BfloatQuantization {
  dtype: 'bfloat16';
  checksum: string;
  original_dtype?: string;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?:
    | NativeQuantization
    | (PackedQuantization & { encoding?: EntropyEncoding })
    | CodebookQuantization
    | BfloatQuantization;
  [extra: string]: unknown;
}

/** A model in memory: model.json's members (without weightsManifest), the weight specs, all weight bytes in order. */
export interface StoredModel {
  json: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  weightData: Uint8Array;
  /**
   * Weight shard size the model is written with (set by the `shard` pass); undefined means
   * DEFAULT_SHARD_BYTES. It only decides how the bytes are split into files, never the bytes themselves.
   */
  shardBytes?: number;
}

export const MODEL_JSON = 'model.json';
/**
 * Hostile-input limits, checked before anything is allocated for what a model.json claims. A real model.json
 * is kilobytes to a few megabytes of topology (the weights are in the shards); 64 MB is room for the largest
 * graph models and stops a multi-gigabyte file from being read and parsed.
 */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** Keras and graph topologies nest about a dozen levels; far deeper is hostile and would overflow later walks. */
export const MAX_MODEL_JSON_DEPTH = 128;
/** TF.js indexes tensors with int32: a weight of more elements cannot be built, whatever the shards hold. */
export const MAX_WEIGHT_ELEMENTS = 2 ** 31 - 1;
/** All weights of one model, read into memory at once: 2 GiB is beyond any model served with TF.js. */
export const MAX_WEIGHT_BYTES = 2 * 1024 * 1024 * 1024;
/** TF.js converter's default shard size: big enough to keep requests few, small enough for browser caches. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Bytes one weight occupies in the shards, honouring its quantization (packed weights: scales, offsets and
 * packed integers, computed by the runtime decoder itself). Throws on a dtype or packed spec it cannot read.
 */
export function weightByteLength(spec: WeightSpec): number {
  return storedByteLength(spec);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function modelKind(json: Record<string, unknown>): 'layers' | 'graph' {
  const topology = json.modelTopology as Record<string, unknown> | undefined;
  return json.format === 'graph-model' || (topology !== undefined && 'node' in topology) ? 'graph' : 'layers';
}

/**
 * Weights holding NaN or ±Infinity, with how many values each: float32 weights as stored and float16-quantized
 * ones (their exponent bits all ones). Integer-quantized weights cannot hold them (their min and scale come
 * from JSON, which has no NaN). Read on the raw bytes: no allocation, any alignment.
 */
export function nonFiniteWeights(model: StoredModel): { name: string; count: number }[] {
  const found: { name: string; count: number }[] = [];
  const d = model.weightData;
  let off = 0;
  for (const spec of model.weightSpecs) {
    const len = weightByteLength(spec);
    const kind = spec.quantization
      ? spec.quantization.dtype === 'float16'
        ? 'f16'
        : undefined
      : spec.dtype === 'float32'
        ? 'f32'
        : undefined;
    let count = 0;
    if (kind === 'f32')
      for (let i = off; i + 3 < off + len; i += 4)
        count += (d[i + 3]! & 0x7f) === 0x7f && (d[i + 2]! & 0x80) !== 0 ? 1 : 0;
    else if (kind === 'f16') for (let i = off; i + 1 < off + len; i += 2) count += (d[i + 1]! & 0x7c) === 0x7c ? 1 : 0;
    if (count > 0) found.push({ name: spec.name, count });
    off += len;
  }
  return found;
}

/** Number of stored weight values (trainable or not): what "params" means in reports. */
export function paramCount(model: StoredModel): number {
  return model.weightSpecs.reduce((n, s) => n + elementCount(s.shape), 0);
}
