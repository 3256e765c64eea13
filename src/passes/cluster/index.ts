/**
 * cluster: weight sharing per kernel by 1-D k-means (src/algorithms/kmeans1d/), fitted in ./fit.ts and written
 * in ./write.ts, each kernel with its layer's options (./apply.ts, loaded on first apply). What it does, for
 * users: ./docs.ts.
 */
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import { definePass } from '../define.js';
import { written, type ClusterOptions } from './options.js';
import { DOCS, STATS } from './docs.js';
import { schema } from './schema.js';
import { asText } from '../../util/text.js';

export type { ClusterOptions } from './options.js';
export type { ClusterLayerStats } from './write.js';

/** The options' defaults (`clusters` or `bits` has none: a recipe sets one of them). */
const DEFAULTS = {
  init: 'kmeans++',
  iterations: 30,
  seed: 1,
  preserveZeros: true,
} as const satisfies Partial<ClusterOptions>;

export const cluster = definePass<ClusterOptions>({
  meta: {
    name: 'cluster',
    version: 2,
    summary: 'k-means weight sharing per kernel: at most K distinct values (Deep Compression)',
    docs: DOCS,
    schema,
    // All of them act on one kernel's k-means; `skip` leaves a kernel unclustered.
    perLayer: ['clusters', 'bits', 'init', 'iterations', 'seed', 'preserveZeros'],
    // A block's `bits: 2` replaces the entry's `clusters: 16` (and the other way round) instead of clashing with it.
    exclusiveOptions: [['clusters', 'bits']],
    models: ['layers', 'graph'],
    sensitivity: { option: 'clusters', candidates: [64, 16, 4] },
    stats: STATS,
  },
  defaultOptions: DEFAULTS,
  resolveOptions(raw, place) {
    const name = `\`${formatDataPath(place.path)}\``;
    if (raw.clusters !== undefined && raw.bits !== undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} sets both clusters (${asText(raw.clusters)}) and bits (${asText(raw.bits)}) at ${place.at('bits')}; keep one of them (bits: b means clusters: 2^b).`,
      );
    }
    if (raw.clusters === undefined && raw.bits === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${name} needs the number of clusters at ${place.at()}; set \`clusters: K\` (2..65536) or \`bits: b\` (1..16, K = 2^b), e.g. \`- cluster: { bits: 4 }\`.`,
      );
    }
    const option = raw.clusters !== undefined ? 'clusters' : 'bits';
    const value = raw[option];
    const [lo, hi] = option === 'clusters' ? [2, 65536] : [1, 16];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`${formatDataPath([...place.path, option])}\` must be an integer from ${lo} to ${hi} (got ${JSON.stringify(value)}) at ${place.at(option)}.`,
      );
    }
    const options: ClusterOptions = {
      clusters: option === 'clusters' ? value : 2 ** value,
      init: (raw.init as ClusterOptions['init'] | undefined) ?? DEFAULTS.init,
      iterations: (raw.iterations as number | undefined) ?? DEFAULTS.iterations,
      seed: (raw.seed as number | undefined) ?? DEFAULTS.seed,
      preserveZeros: (raw.preserveZeros as boolean | undefined) ?? DEFAULTS.preserveZeros,
    };
    written.set(options, { option, at: place.at(option), path: formatDataPath([...place.path, option]) });
    return options;
  },

  async apply(model, options, ctx) {
    return (await import('./apply.js')).applyCluster(model, options, ctx);
  },
});
