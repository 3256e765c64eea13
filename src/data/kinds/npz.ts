/** `dataset: npz`: named arrays of one .npz archive (src/data/npz.ts and fflate, imported when used). */
import type { NpzDataSpec } from '../../recipe/index.js';
import {
  imagePreprocessOf,
  lastPart,
  limitOf,
  limitSuffix,
  normalisationOf,
  packageAt,
  shapeOfFacts,
  type DatasetKind,
} from './kind.js';
import { SCHEMA } from './npz-schema.js';

/** See DatasetKind.loaderVersion. */
const LOADER_VERSION = 1;

export const npz: DatasetKind<NpzDataSpec> = {
  dataset: 'npz',
  schema: SCHEMA,
  normalise: (raw, ctx) => ({
    dataset: 'npz',
    path: ctx.file('path'),
    x: (raw.x as string | undefined) ?? 'x',
    ...(raw.y === undefined ? {} : { y: raw.y as string }),
    ...(raw.labels === false ? { labels: false as const } : {}),
    ...limitOf(raw),
    ...(raw.numClasses === undefined ? {} : { numClasses: raw.numClasses as number }),
    ...normalisationOf(raw, 1, ctx),
    ...imagePreprocessOf(raw, ctx, true),
  }),
  loaderVersion: LOADER_VERSION,
  describe: (spec) => `npz ${lastPart(spec.path)}/${spec.x}${limitSuffix(spec)}`,
  paths: (spec) => [spec.path],
  facts: async (spec, where) => (await import('../npz.js')).npzFacts(spec, where),
  shape: (_spec, facts) => shapeOfFacts(facts()),
  // The path is left out: the digest covers the archive; the array names stay with the rest of the spec.
  fingerprint(spec, facts) {
    const { digest } = facts();
    const { path: _path, ...rest } = spec;
    return { ...rest, loader: LOADER_VERSION, digest, unzip: packageAt('fflate') };
  },
  load: async (spec, where) => (await import('../npz.js')).loadNpz(spec, where),
};
