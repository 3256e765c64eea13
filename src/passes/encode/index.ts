/**
 * encode: lossless entropy coding of weights with a small alphabet (src/engine/entropy.ts codes one weight),
 * skipping the layers an override skips. What it does, for users: ./docs.ts. The implementation (./apply.ts)
 * loads on first apply.
 */
import type { DeflateLevel } from '../../algorithms/entropy.js';
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass } from '../define.js';
import { DOCS, STATS } from './docs.js';
import type { EncodeOptions } from './options.js';
import { schema } from './schema.js';

export type { EncodedWeightStats, EncodeOptions } from './options.js';

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
    return (await import('./apply.js')).applyEncode(model, options, ctx);
  },
});
