import { cachedSlice, cachesSlices, datasetId, loadDataset, type Dataset, type SliceStore } from '../../data/index.js';
import { McbError } from '../../errors.js';
import type { DataSpec } from '../../recipe/index.js';

/**
 * Loads a data slice and, for file datasets, checks it against the digest its step key was computed with:
 * a file edited between planning and running would otherwise be cached under the old content's key. With
 * `slices`, a decoded slice is kept there under its fingerprint (`keyed`), so no later build decodes it again.
 */
export async function loadChecked(spec: DataSpec, keyed: unknown, slices?: SliceStore): Promise<Dataset> {
  const expected = (keyed as { digest?: unknown } | undefined)?.digest;
  // The evals, the latency step and training passes of one build read the same slice: decode it once. A slice
  // is reused only under the digest it was checked against, so a later build on changed files decodes anew.
  const memo = typeof expected === 'string' ? `${datasetId(spec)}\n${expected}` : undefined;
  const had = memo === undefined ? undefined : decoded.get(memo);
  if (had) return had;
  const ds =
    slices && typeof expected === 'string' && cachesSlices(spec)
      ? await cachedSlice(slices, spec, keyed, () => loadDataset(spec))
      : await loadDataset(spec);
  if (ds.digest !== undefined && expected !== undefined && ds.digest !== expected) {
    throw new McbError(
      'MCB_DATASET',
      `the data ${ds.name} changed while the build was running (its files differ from when the build was planned); run the build again.`,
    );
  }
  if (memo !== undefined) {
    decoded.set(memo, ds);
    // A build reads at most three slices (eval, train, calibration); older ones belong to earlier builds.
    while (decoded.size > 3) decoded.delete(decoded.keys().next().value!);
  }
  return ds;
}

/** File datasets decoded by this process, by slice and digest (mnist keeps its own copy in src/data/mnist.ts). */
const decoded = new Map<string, Dataset>();
