/**
 * encode: lossless entropy coding of weights with a small alphabet (src/engine/entropy.ts codes one weight),
 * skipping the layers an override skips. What it does, for users: ./docs.ts.
 */
import type { DeflateLevel } from '../../algorithms/entropy.js';
import { McbError } from '../../errors.js';
import { entropyEncode } from '../../engine/entropy.js';
import {
  concatBytes,
  decodeWeights,
  layerClasses,
  layerOfWeight,
  readGraph,
  storedWeights,
  type WeightSpec,
} from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass, optionsByLayer } from '../define.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';

export interface EncodeOptions {
  /** DEFLATE level of the LZ77 attempt on short streams, 1 (fastest) to 9 (smallest). */
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

/** The options' defaults. */
const DEFAULTS = { level: 9 } as const satisfies Partial<EncodeOptions>;

export const encode = definePass<EncodeOptions>({
  meta: {
    name: 'encode',
    // 2: the layout chosen by its prefix-code size, LZ77 only on short streams (see algorithms/entropy.ts).
    version: 2,
    summary:
      'entropy-code weights with a small alphabet (clustered, packed ints) as DEFLATE, sparse ones as (gap, symbol) pairs (mcbuild/runtime)',
    docs: DOCS,
    schema,
    perLayer: [],
    models: ['layers', 'graph'],
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  resolveOptions(raw, place) {
    const level = raw.level ?? DEFAULTS.level;
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
  },
});
