/**
 * encode: the last stage of Deep Compression — entropy-code each weight's symbols (docs/packed-format.md,
 * "Entropy-coded weights"). A weight qualifies when it has a small alphabet: the integers of a packed
 * int8/int4/int2 weight (its scales are kept), or at most 256 distinct float32 values (clustered, pruned and
 * clustered, or quantized per tensor), which become a codebook. Sparse weights are stored as (gap, symbol)
 * pairs of their non-zeros, dense ones symbol by symbol, whichever is smaller, both as DEFLATE (fflate).
 *
 * Lossless: every encoded weight decodes to exactly the values it had (−0 as +0), so accuracy cannot change;
 * the pass inflates every stream it wrote with the runtime's own inflate and compares it byte for byte.
 * Weights it cannot shrink are left as they are and listed.
 * The output needs `mcbuild/runtime` to load. Put it last: a later weight pass decodes it back to float32.
 *
 * Per-layer overrides (src/plan/layers.ts) can only say `skip` (the DEFLATE level is one choice for the
 * model): a skipped layer's weights are stored exactly as they came, listed with that reason.
 */
import type { DeflateLevel } from '../../algorithms/entropy.js';
import { McbError } from '../../errors.js';
import { entropyEncode } from '../../engine/entropy.js';
import {
  concatBytes,
  decodeWeights,
  layerClasses,
  layerOfWeight,
  weightByteLength,
  type WeightSpec,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass, optionsByLayer } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export interface EncodeOptions {
  /** DEFLATE level, 1 (fastest) to 9 (smallest). */
  level: DeflateLevel;
}

export interface EncodedWeightStats {
  name: string;
  layout: 'dense' | 'sparse';
  /** Distinct symbols the weight uses. */
  symbols: number;
  /** Symbols stored (non-zeros plus gap fillers when sparse). */
  entries: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Stored bits per parameter after encoding. */
  bitsPerWeight: number;
}

export const encode = definePass<EncodeOptions>({
  meta: {
    name: 'encode',
    version: 1,
    summary:
      'entropy-code weights with a small alphabet (clustered, packed ints) as DEFLATE, sparse ones as (gap, symbol) pairs (mcbuild/runtime)',
    docs: DOCS,
    schema,
    perLayer: [],
    models: ['layers', 'graph'],
    stats: STATS,
  },
  defaultOptions: {},
  resolveOptions(raw, place) {
    const level = raw.level ?? 9;
    if (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > 9) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, 'level'])}\` is ${JSON.stringify(level)} at ${place.at('level')}; the DEFLATE level is a whole number from 1 (fastest) to 9 (smallest).`,
      );
    }
    return { level: level as DeflateLevel };
  },

  async apply(model, options, ctx) {
    const optionsFor = optionsByLayer(ctx, options);
    const classes = layerClasses(model.json);
    const skippedLayers = new Set<string>();
    // Views, not copies: encode only reads the values.
    const decoded = decodeWeights(model, { share: true });
    const specs: WeightSpec[] = [];
    const chunks: Uint8Array[] = [];
    const encoded: EncodedWeightStats[] = [];
    const skipped: { name: string; reason: string }[] = [];
    let off = 0;
    for (const [i, spec] of model.weightSpecs.entries()) {
      ctx.progress(`encoding ${spec.name}`, i / model.weightSpecs.length);
      const length = weightByteLength(spec);
      const stored = model.weightData.subarray(off, off + length);
      off += length;
      const values = decoded[i]!.values;
      const layer = layerOfWeight(spec.name, classes);
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
  },
});
