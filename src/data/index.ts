import type { DataSpec } from '../recipe/index.js';
import { canonicalJson } from '../util/hash.js';
import { packageVersion } from '../version.js';
import { loadMnist } from './mnist.js';
import type { Dataset, DatasetFacts } from './types.js';

// The file loaders (and their decoders: pngjs, jpeg-js, fflate) are imported when a recipe names such data,
// so planning an mnist recipe loads none of them.

export {
  isLabelled,
  labelsNeeded,
  type Dataset,
  type DatasetFacts,
  type LabelledDataset,
  type Labels,
} from './types.js';

/** Facts of the file datasets a recipe reads, by datasetId(spec): gathered before planning (src/plan/inputs.ts). */
export type DatasetFactsMap = Readonly<Record<string, DatasetFacts>>;

/** Identifies a data spec among a recipe's (eval, train, ... may name the same data). */
export function datasetId(spec: DataSpec): string {
  return canonicalJson(spec);
}

/**
 * Loads the slice of data a recipe names. `where` names the recipe entry ("`data.eval` at x.yaml:9:9") for
 * the few errors that are about the recipe rather than the files.
 */
export async function loadDataset(spec: DataSpec, where = `the ${spec.dataset} dataset`): Promise<Dataset> {
  switch (spec.dataset) {
    case 'mnist':
      return loadMnist(spec.split, spec.limit);
    case 'images':
      return (await import('./images.js')).loadImages(spec, where);
    case 'npy':
      return (await import('./npy.js')).loadNpy(spec, where);
    case 'npz':
      return (await import('./npz.js')).loadNpz(spec, where);
  }
}

/** Reads what planning needs of a file dataset (digest, sample shape, labels); undefined for mnist, which needs nothing read. */
export async function datasetFacts(spec: DataSpec, where: string): Promise<DatasetFacts | undefined> {
  switch (spec.dataset) {
    case 'mnist':
      return undefined;
    case 'images':
      return (await import('./images.js')).imagesFacts(spec, where);
    case 'npy':
      return (await import('./npy.js')).npyFacts(spec, where);
    case 'npz':
      return (await import('./npz.js')).npzFacts(spec, where);
  }
}

function factsOf(spec: DataSpec, facts: DatasetFactsMap | undefined): DatasetFacts {
  const f = facts?.[datasetId(spec)];
  // gatherPlanInputs reads every file dataset the recipe names; a plan without them is a programming error.
  if (!f)
    throw new Error(
      `no facts gathered for the ${spec.dataset} dataset ${datasetId(spec)}: call gatherPlanInputs first`,
    );
  return f;
}

/**
 * Shape of a dataset's samples and its class count (undefined for label-free data), for planning: known for
 * mnist, read at gather time for file datasets.
 */
export function datasetShape(spec: DataSpec, facts?: DatasetFactsMap): { inputShape: number[]; numClasses?: number } {
  if (spec.dataset === 'mnist') return { inputShape: [28, 28, 1], numClasses: 10 };
  const f = factsOf(spec, facts);
  return { inputShape: f.inputShape, ...(f.numClasses === undefined ? {} : { numClasses: f.numClasses }) };
}

/** Whether the data has labels (accuracy, training on labels) or is label-free (fidelity only). */
export function datasetLabelled(spec: DataSpec, facts?: DatasetFactsMap): boolean {
  return spec.dataset === 'mnist' || factsOf(spec, facts).labelled;
}

/**
 * Bump when a loader's output changes for the same spec (order, split, scaling): it is in every key that
 * reads the dataset, so old cache entries stop matching.
 */
const LOADER_VERSION: Record<DataSpec['dataset'], number> = { mnist: 1, images: 1, npy: 1, npz: 1 };

/**
 * What identifies a dataset slice's content, for step keys: the spec, the loader's version and the data
 * package's (mnist), or the content digest and the decoders' versions (files). File paths are left out:
 * the digest covers the content, so a moved folder or another checkout keeps its keys.
 */
export function datasetFingerprint(spec: DataSpec, facts?: DatasetFactsMap): Record<string, unknown> {
  if (spec.dataset === 'mnist') {
    return { ...spec, loader: LOADER_VERSION.mnist, package: `mnist@${packageVersion('mnist') ?? 'missing'}` };
  }
  const version = (p: string) => `${p}@${packageVersion(p) ?? 'missing'}`;
  const { digest } = factsOf(spec, facts);
  switch (spec.dataset) {
    case 'images': {
      const { path: _path, ...rest } = spec;
      return { ...rest, loader: LOADER_VERSION.images, digest, decoders: [version('pngjs'), version('jpeg-js')] };
    }
    case 'npy': {
      const { x: _x, y, ...rest } = spec;
      return { ...rest, labels: y !== undefined, loader: LOADER_VERSION.npy, digest };
    }
    case 'npz': {
      const { path: _path, ...rest } = spec;
      return { ...rest, loader: LOADER_VERSION.npz, digest, unzip: version('fflate') };
    }
  }
}

/** "mnist/test[:300]", "images digits/test[:200]": how plans and titles name a slice. */
export function describeDataset(spec: DataSpec): string {
  const limit = spec.limit === undefined ? '' : `[:${spec.limit}]`;
  const base = (p: string) => p.split(/[\\/]/).filter(Boolean).pop() ?? p;
  switch (spec.dataset) {
    case 'mnist':
      return `mnist/${spec.split}${limit}`;
    case 'images':
      return `images ${base(spec.path)}${limit}`;
    case 'npy':
      return `npy ${base(spec.x)}${limit}`;
    case 'npz':
      return `npz ${base(spec.path)}/${spec.x}${limit}`;
  }
}
