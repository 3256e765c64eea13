import { McbError } from '../errors.js';
import type { DataSpec } from '../recipe/index.js';
import { packageVersion } from '../version.js';
import { loadMnist } from './mnist.js';
import type { Dataset } from './types.js';

export type { Dataset } from './types.js';

/** Loads the slice of data a recipe names. */
export async function loadDataset(spec: DataSpec): Promise<Dataset> {
  switch (spec.dataset) {
    case 'mnist':
      return loadMnist(spec.split, spec.limit);
    default:
      throw new McbError('MCB_DATASET', `unknown dataset ${JSON.stringify(spec.dataset)}; the datasets mcbuild knows are: mnist.`);
  }
}

/** Shape of a dataset's samples and its class count, known without reading it (planning checks models against it). */
export function datasetShape(spec: DataSpec): { inputShape: number[]; numClasses: number } {
  switch (spec.dataset) {
    case 'mnist':
      return { inputShape: [28, 28, 1], numClasses: 10 };
  }
}

/**
 * Bump when a loader's output changes for the same spec (order, split, scaling): it is in every key that
 * reads the dataset, so old cache entries stop matching.
 */
const LOADER_VERSION: Record<DataSpec['dataset'], number> = { mnist: 1 };

/** What identifies a dataset slice's content, for step keys: the spec, the loader's version and the data package's. */
export function datasetFingerprint(spec: DataSpec): Record<string, unknown> {
  return {
    ...spec,
    loader: LOADER_VERSION[spec.dataset],
    package: spec.dataset === 'mnist' ? `mnist@${packageVersion('mnist') ?? 'missing'}` : undefined,
  };
}
