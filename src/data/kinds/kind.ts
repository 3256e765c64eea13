/**
 * One kind of data a recipe can name (`dataset: mnist | images | npy | npz`): everything mcbuild does with
 * such data, in one object, so a new kind is one module and one line of the table (./index.ts).
 *
 * The loaders of file data, and their decoders (pngjs, jpeg-js, fflate), are imported by `facts` and `load`
 * only: planning an mnist recipe loads none of them.
 *
 * The kind's keys in a recipe are its `schema`: the recipe schema is assembled from them (src/language/).
 */
import type { DataEntryContext, DataSpec, Normalisation } from '../../recipe/index.js';
import { packageVersion } from '../../version.js';
import type { Dataset, DatasetFacts } from '../types.js';

/** What planning knows of a dataset's samples: their shape, the classes, and whether there are labels. */
export interface DatasetShape {
  inputShape: number[];
  /** Absent for label-free data. */
  numClasses?: number;
  labelled: boolean;
}

/**
 * The facts read before planning (src/plan/inputs.ts), for kinds that read files; it throws when they were
 * not gathered, which is a programming error.
 */
export type FactsOf = () => DatasetFacts;

/** The JSON Schema of a kind's recipe entry, besides `dataset` itself. */
export interface KindSchema {
  /** One sentence for the `dataset` key's description. */
  summary: string;
  required: string[];
  properties: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export interface DatasetKind<S extends DataSpec = DataSpec> {
  /** The recipe's `dataset:` value. */
  readonly dataset: S['dataset'];
  /** The entry's keys and what they mean. */
  readonly schema: KindSchema;
  /** A validated recipe entry with defaults filled in and paths made absolute (ctx.file). */
  normalise(raw: Readonly<Record<string, unknown>>, ctx: DataEntryContext): S;
  /**
   * Bump when the loader's output changes for the same spec (order, split, scaling): it is in every key that
   * reads the dataset, so old cache entries stop matching.
   */
  readonly loaderVersion: number;
  /** "mnist/test[:300]", "images digits/test[:200]": how plans and titles name a slice. */
  describe(spec: S): string;
  /** The files and folders the data is read from (watch mode watches them). */
  paths(spec: S): string[];
  /** What planning needs read of the data (digest, sample shape, labels); undefined when nothing needs reading. */
  facts(spec: S, where: string): Promise<DatasetFacts | undefined>;
  shape(spec: S, facts: FactsOf): DatasetShape;
  /**
   * What identifies the slice's content, for step keys: the spec, the loader's version, and the content
   * digest or the version of the package holding the data, and of the decoders that read it.
   */
  fingerprint(spec: S, facts: FactsOf): Record<string, unknown>;
  /**
   * Loads the slice. `where` names the recipe entry ("`data.eval` at x.yaml:9:9") for the few errors that
   * are about the recipe rather than the files.
   */
  load(spec: S, where: string): Promise<Dataset>;
}

/** "[:300]" for a slice with a limit, else nothing. */
export function limitSuffix(spec: { limit?: number }): string {
  return spec.limit === undefined ? '' : `[:${spec.limit}]`;
}

/** The last part of a path: a file or folder name for titles. */
export function lastPart(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

/** "pngjs@7.0.0": a package whose version changes what is read, for fingerprints. */
export function packageAt(name: string): string {
  return `${name}@${packageVersion(name) ?? 'missing'}`;
}

/** Shape and labels as read at gather time. */
export function shapeOfFacts(f: DatasetFacts): DatasetShape {
  return {
    inputShape: f.inputShape,
    ...(f.numClasses === undefined ? {} : { numClasses: f.numClasses }),
    labelled: f.labelled,
  };
}

/** The split a role reads when the entry does not say: test for eval, train otherwise. */
export function defaultSplit(ctx: DataEntryContext): 'train' | 'test' {
  return ctx.role === 'eval' ? 'test' : 'train';
}

/** `limit`, when written. */
export function limitOf(raw: Readonly<Record<string, unknown>>): { limit?: number } {
  return raw.limit === undefined ? {} : { limit: raw.limit as number };
}

/** How a file kind's raw values become inputs: `scale` (the kind's default) and `offset`, `mean`, `std` as written. */
export function normalisationOf(raw: Readonly<Record<string, unknown>>, defaultScale: number): Normalisation {
  return {
    scale: (raw.scale as number | undefined) ?? defaultScale,
    offset: (raw.offset as number | undefined) ?? 0,
    ...(raw.mean ? { mean: raw.mean as number[] } : {}),
    ...(raw.std ? { std: raw.std as number[] } : {}),
  };
}
