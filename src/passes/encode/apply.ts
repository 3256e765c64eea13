/**
 * encode's implementation: each weight of a small alphabet entropy-coded (src/engine/entropy.ts), the layers an
 * override skips kept as stored. Loaded by the definition's apply() (./index.ts) on first use.
 */
import { entropyEncode } from '../../engine/entropy.js';
import {
  concatBytes,
  decodeWeights,
  layerClasses,
  layerOfWeight,
  readGraph,
  storedWeights,
  type StoredModel,
  type WeightSpec,
} from '../../model/index.js';
import { optionsByLayer, type PassContext, type PassResult } from '../define.js';
import type { EncodedWeightStats, EncodeOptions } from './options.js';

export function applyEncode(model: StoredModel, options: EncodeOptions, ctx: PassContext): PassResult {
  const optionsFor = optionsByLayer(ctx, options);
  const classes = layerClasses(model.json);
  // A graph model's layers are the nodes that read its weights.
  const graph = readGraph(model.json);
  const layerOf = graph ? graph.layerOf : (name: string) => layerOfWeight(name, classes);
  const skippedLayers = new Set<string>();
  // Views, not copies: encode only reads the values.
  const decoded = decodeWeights(model, { share: true });
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  const encoded: EncodedWeightStats[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const [i, { spec, stored }] of storedWeights(model).entries()) {
    ctx.progress(`encoding ${spec.name}`, i / model.weightSpecs.length);
    const length = stored.byteLength;
    const values = decoded[i]!.values;
    const layer = layerOf(spec.name);
    const o = optionsFor(layer);
    if (o === null) skippedLayers.add(layer);
    const result =
      o === null
        ? { encoded: false as const, reason: `layer ${layer} is skipped by an override` }
        : values instanceof Float32Array
          ? entropyEncode(spec, stored, values, o.level)
          : { encoded: false as const, reason: `a ${spec.dtype} weight` };
    if (!result.encoded) {
      skipped.push({ name: spec.name, reason: result.reason });
      specs.push(spec);
      chunks.push(stored);
      continue;
    }
    specs.push(result.spec);
    chunks.push(result.bytes);
    encoded.push({
      name: spec.name,
      layout: result.layout,
      symbols: result.symbols,
      entries: result.entries,
      bytesBefore: length,
      bytesAfter: result.bytes.byteLength,
      bitsPerWeight: Number(((8 * result.bytes.byteLength) / Math.max(1, values.length)).toFixed(3)),
    });
  }
  const weightData = concatBytes(chunks);
  return {
    model: { ...model, weightSpecs: specs, weightData },
    stats: {
      weightsEncoded: encoded.length,
      weightsSkipped: skipped.length,
      weightBytesBefore: model.weightData.byteLength,
      weightBytesAfter: weightData.byteLength,
      encoded,
      skipped,
      ...(skippedLayers.size ? { skippedLayers: [...skippedLayers] } : {}),
    },
  };
}
