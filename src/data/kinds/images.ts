/** `dataset: images`: a folder of PNG and JPEG files (src/data/images.ts, imported when used). */
import type { ImagesDataSpec } from '../../recipe/index.js';
import {
  defaultSplit,
  imageChannelsOf,
  hasImagePreprocess,
  imagePreprocessOf,
  lastPart,
  limitOf,
  limitSuffix,
  normalisationOf,
  packageAt,
  shapeOfFacts,
  type DatasetKind,
} from './kind.js';
import { SCHEMA } from './images-schema.js';

/** See DatasetKind.loaderVersion. */
const LOADER_VERSION = 1;

export const images: DatasetKind<ImagesDataSpec> = {
  dataset: 'images',
  schema: SCHEMA,
  normalise: (raw, ctx) => ({
    dataset: 'images',
    path: ctx.file('path'),
    split: (raw.split as 'train' | 'test' | undefined) ?? defaultSplit(ctx),
    ...limitOf(raw),
    // With image settings in `preprocess`, `size` is one of them (resized antialiased); alone, it keeps its
    // plain bilinear resize, so older recipes keep their data and keys.
    ...(raw.size && !hasImagePreprocess(raw) ? { size: raw.size as [number, number] } : {}),
    channels: imageChannelsOf(raw, ctx),
    ...(raw.classes ? { classes: raw.classes as string[] } : {}),
    ...(raw.labels === false ? { labels: false as const } : {}),
    // Pixels are 0..255: by default they become 0..1, as the mnist dataset's are.
    ...normalisationOf(raw, 1 / 255, ctx),
    ...imagePreprocessOf(raw, ctx, false),
  }),
  loaderVersion: LOADER_VERSION,
  describe: (spec) => `images ${lastPart(spec.path)}${limitSuffix(spec)}`,
  paths: (spec) => [spec.path],
  facts: async (spec, where) => (await import('../images.js')).imagesFacts(spec, where),
  shape: (_spec, facts) => shapeOfFacts(facts()),
  // The path is left out: the digest covers the content, so a moved folder or another checkout keeps its keys.
  fingerprint(spec, facts) {
    const { digest } = facts();
    const { path: _path, ...rest } = spec;
    return { ...rest, loader: LOADER_VERSION, digest, decoders: [packageAt('pngjs'), packageAt('jpeg-js')] };
  },
  load: async (spec, where) => (await import('../images.js')).loadImages(spec, where),
};
