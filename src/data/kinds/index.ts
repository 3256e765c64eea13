/** The kinds of data a recipe can name, one object each (./kind.ts): the one place that tells them apart. */
import type { DataSpec } from '../../recipe/index.js';
import { images } from './images.js';
import type { DatasetKind } from './kind.js';
import { mnist } from './mnist.js';
import { npy } from './npy.js';
import { npz } from './npz.js';

export type { DatasetKind, DatasetShape, FactsOf } from './kind.js';

type KindTable = { readonly [K in DataSpec['dataset']]: DatasetKind<Extract<DataSpec, { dataset: K }>> };

export const DATASET_KINDS: KindTable = { mnist, images, npy, npz };

/** The kind of a data spec, typed for that spec. */
export function kindOf<S extends DataSpec>(spec: S): DatasetKind<S> {
  return DATASET_KINDS[spec.dataset] as unknown as DatasetKind<S>;
}
