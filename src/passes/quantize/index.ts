/**
 * quantize: float32 weights stored as float16 / uint8 / uint16 (TF.js's own formats) or bfloat16 / int8 / int4 /
 * int2 (mcbuild's packed format), each weight with its layer's options. What it does, for users: ./docs.ts. The
 * definition (options, their resolution) is here; the implementation (./apply.ts) loads on first apply.
 */
import { McbError } from '../../errors.js';
import type { QuantizationDtype } from '../../model/index.js';
import type { PackedDtype } from '../../runtime/decode.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass } from '../define.js';
import { DOCS, STATS } from './docs.js';
import type { QuantizeOptions } from './options.js';
import { schema } from './schema.js';
import { asText } from '../../util/text.js';

export type { QuantizeOptions } from './options.js';

/** The options' defaults; symmetric and clip apply to int8, int4 and int2. */
const DEFAULTS = { dtype: 'uint8', granularity: 'per-tensor', symmetric: true, clip: 'none' } as const;

const BITS_TO_DTYPE: Record<number, QuantizationDtype> = { 8: 'uint8', 16: 'uint16', 4: 'int4', 2: 'int2' };
const PACKED: readonly string[] = ['int8', 'int4', 'int2'];

export const quantize = definePass<QuantizeOptions>({
  meta: {
    name: 'quantize',
    // 2: the stats gained `layers` (per-layer dtype and bits); a cached step of version 1 would report without them.
    version: 2,
    summary:
      'store weights as float16 or affine uint8/uint16 per tensor (stock TF.js), or bfloat16 / packed int8/int4/int2 (mcbuild/runtime)',
    docs: DOCS,
    schema,
    perLayer: ['dtype', 'bits', 'granularity', 'groupSize', 'symmetric', 'clip'],
    // A block's `bits: 4` replaces the entry's `dtype: uint8` (and the other way round) instead of disagreeing with it.
    exclusiveOptions: [['dtype', 'bits']],
    models: ['layers', 'graph'],
    sensitivity: { option: 'bits', candidates: [8, 4, 2] },
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  resolveOptions(raw, place) {
    const fromBits = raw.bits === undefined ? undefined : BITS_TO_DTYPE[raw.bits as number];
    const dtype = raw.dtype as QuantizationDtype | undefined;
    if (dtype !== undefined && fromBits !== undefined && dtype !== fromBits) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath(place.path)}\` sets dtype ${dtype} and bits ${String(raw.bits)}, which disagree, at ${place.at('bits')}; keep one of them (bits: 8 means uint8, bits: 16 means uint16).`,
      );
    }
    const resolved = dtype ?? fromBits ?? DEFAULTS.dtype;
    const path = formatDataPath(place.path);
    const refuse = (option: string, why: string): never => {
      throw new McbError('MCB_RECIPE_INVALID', `\`${path}\` ${why}, at ${place.at(option)}.`);
    };
    const granularity = (raw.granularity as string | undefined) ?? DEFAULTS.granularity;
    if (!PACKED.includes(resolved)) {
      // TF.js's own formats: one min and scale per tensor (or float16), asymmetric by definition.
      if (granularity !== 'per-tensor')
        refuse(
          'granularity',
          `sets granularity ${granularity} with dtype ${resolved}, which TF.js stores per tensor only; use dtype int8, int4 or int2 for ${granularity}`,
        );
      if (raw.symmetric === true)
        refuse(
          'symmetric',
          `sets symmetric: true with dtype ${resolved}; TF.js's ${resolved} format is ${resolved === 'float16' || resolved === 'bfloat16' ? 'not affine' : 'affine (min and scale)'}, use dtype int8, int4 or int2 for symmetric quantization`,
        );
      if (raw.symmetric === false && (resolved === 'float16' || resolved === 'bfloat16'))
        refuse('symmetric', `sets symmetric with dtype ${resolved}, which has no range to make symmetric`);
      if (raw.clip !== undefined && raw.clip !== 'none')
        refuse('clip', `sets clip ${asText(raw.clip)} with dtype ${resolved}; clipping applies to int8, int4 and int2`);
      if (raw.groupSize !== undefined)
        refuse(
          'groupSize',
          `sets groupSize with dtype ${resolved}; groups apply to int8, int4 and int2 with granularity per-group`,
        );
      return { dtype: resolved as 'float16' | 'bfloat16' | 'uint8' | 'uint16', granularity: 'per-tensor' };
    }
    if (granularity === 'per-group' && raw.groupSize === undefined)
      refuse(
        'granularity',
        'sets granularity per-group without groupSize; add groupSize (values per scale along the reduction axis, e.g. 32)',
      );
    if (granularity !== 'per-group' && raw.groupSize !== undefined)
      refuse('groupSize', `sets groupSize with granularity ${granularity}; groupSize needs granularity: per-group`);
    const symmetric = (raw.symmetric as boolean | undefined) ?? DEFAULTS.symmetric;
    return {
      dtype: resolved as PackedDtype,
      granularity: granularity as 'per-tensor' | 'per-channel' | 'per-group',
      ...(granularity === 'per-group' ? { groupSize: raw.groupSize as number } : {}),
      symmetric,
      clip: (raw.clip as 'none' | 'mse' | undefined) ?? DEFAULTS.clip,
    };
  },
  async apply(model, options, ctx) {
    return (await import('./apply.js')).applyQuantize(model, options, ctx);
  },
});
