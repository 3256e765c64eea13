import type { DataSpec } from '../recipe/index.js';
import { canonicalJson } from '../util/hash.js';
import { kindOf, type FactsOf } from './kinds/index.js';
import type { Dataset, DatasetFacts } from './types.js';

// Each kind of data is one object (src/data/kinds/); these functions pick the spec's kind and ask it.

export {
  isLabelled,
  labelsNeeded,
  type Dataset,
  type DatasetFacts,
  type LabelledDataset,
  type Labels,
} from './types.js';
export { DATASET_KINDS, kindOf, type DatasetKind, type DatasetShape } from './kinds/index.js';
export { cachedSlice, cachesSlices, type SliceStore } from './slice-cache.js';
export { fitToModel } from './preprocess.js';

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
  return kindOf(spec).load(spec, where);
}

/** Reads what planning needs of a file dataset (digest, sample shape, labels); undefined for mnist, which needs nothing read. */
export async function datasetFacts(spec: DataSpec, where: string): Promise<DatasetFacts | undefined> {
  return kindOf(spec).facts(spec, where);
}

function factsOf(spec: DataSpec, facts: DatasetFactsMap | undefined): FactsOf {
  return () => {
    const f = facts?.[datasetId(spec)];
    // gatherPlanInputs reads every file dataset the recipe names; a plan without them is a programming error.
    if (!f)
      throw new Error(
        `no facts gathered for the ${spec.dataset} dataset ${datasetId(spec)}: call gatherPlanInputs first`,
      );
    return f;
  };
}

/**
 * Shape of a dataset's samples and its class count (undefined for label-free data), for planning: known for
 * mnist, read at gather time for file datasets.
 */
export function datasetShape(spec: DataSpec, facts?: DatasetFactsMap): { inputShape: number[]; numClasses?: number } {
  const { inputShape, numClasses } = kindOf(spec).shape(spec, factsOf(spec, facts));
  return { inputShape, ...(numClasses === undefined ? {} : { numClasses }) };
}

/** Whether the data has labels (accuracy, training on labels) or is label-free (fidelity only). */
export function datasetLabelled(spec: DataSpec, facts?: DatasetFactsMap): boolean {
  return kindOf(spec).shape(spec, factsOf(spec, facts)).labelled;
}

/**
 * What identifies a dataset slice's content, for step keys: the spec, the loader's version and the data
 * package's (mnist), or the content digest and the decoders' versions (files). File paths are left out:
 * the digest covers the content, so a moved folder or another checkout keeps its keys.
 */
export function datasetFingerprint(spec: DataSpec, facts?: DatasetFactsMap): Record<string, unknown> {
  return kindOf(spec).fingerprint(spec, factsOf(spec, facts));
}

/** "mnist/test[:300]", "images digits/test[:200]": how plans and titles name a slice. */
export function describeDataset(spec: DataSpec): string {
  return kindOf(spec).describe(spec);
}

/** The files and folders a slice is read from (none for mnist): what watch mode watches. */
export function datasetPaths(spec: DataSpec): string[] {
  return kindOf(spec).paths(spec);
}
