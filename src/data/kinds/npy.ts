/** `dataset: npy`: arrays in NumPy .npy files (src/data/npy.ts, imported when used). */
import type { NpyDataSpec } from '../../recipe/index.js';
import {
  imagePreprocessOf,
  lastPart,
  limitOf,
  limitSuffix,
  normalisationOf,
  shapeOfFacts,
  type DatasetKind,
} from './kind.js';
import { SCHEMA } from './npy-schema.js';

/** See DatasetKind.loaderVersion. */
const LOADER_VERSION = 1;

export const npy: DatasetKind<NpyDataSpec> = {
  dataset: 'npy',
  schema: SCHEMA,
  normalise: (raw, ctx) => ({
    dataset: 'npy',
    x: ctx.file('x'),
    ...(raw.y === undefined ? {} : { y: ctx.file('y') }),
    ...limitOf(raw),
    ...(raw.numClasses === undefined ? {} : { numClasses: raw.numClasses as number }),
    ...normalisationOf(raw, 1, ctx),
    ...imagePreprocessOf(raw, ctx, true),
  }),
  loaderVersion: LOADER_VERSION,
  describe: (spec) => `npy ${lastPart(spec.x)}${limitSuffix(spec)}`,
  paths: (spec) => [spec.x, ...(spec.y === undefined ? [] : [spec.y])],
  facts: async (spec, where) => (await import('../npy.js')).npyFacts(spec, where),
  shape: (_spec, facts) => shapeOfFacts(facts()),
  // The paths are left out (the digest covers both files); whether there are labels is kept.
  fingerprint(spec, facts) {
    const { digest } = facts();
    const { x: _x, y, ...rest } = spec;
    return { ...rest, labels: y !== undefined, loader: LOADER_VERSION, digest };
  },
  load: async (spec, where) => (await import('../npy.js')).loadNpy(spec, where),
};
