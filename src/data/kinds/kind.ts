/**
 * One kind of data a recipe can name (`dataset: mnist | images | npy | npz`): everything mcbuild does with
 * such data, in one object, so a new kind is one module and one line of the table (./index.ts).
 *
 * The loaders of file data, and their decoders (pngjs, jpeg-js, fflate), are imported by `facts` and `load`
 * only: planning an mnist recipe loads none of them.
 *
 * The kind's keys in a recipe are its `schema`: the recipe schema is assembled from them (src/language/).
 */
import { McbError } from '../../errors.js';
import type { DataEntryContext, DataSpec, ImagePreprocess, Normalisation, ResizeMode } from '../../recipe/index.js';
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

/** The keys a `preprocess` block may share with the entry itself (one schema, written in one place). */
const NORMALISATION_KEYS = ['scale', 'offset', 'mean', 'std'] as const;

/** The entry's `preprocess` block, or an empty one. */
function block(raw: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return (raw.preprocess as Record<string, unknown> | undefined) ?? {};
}

/**
 * A key the entry writes both directly and in `preprocess` (`size` and `channels` of images, the
 * normalisation keys): refused at the block's copy, since two values would leave one silently unused.
 */
function once(raw: Readonly<Record<string, unknown>>, key: string, ctx: DataEntryContext): unknown {
  const inBlock = block(raw)[key];
  if (inBlock !== undefined && raw[key] !== undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`data.${ctx.role}.preprocess.${key}\` at ${ctx.at('preprocess', key)} repeats \`${key}\`, which the entry also sets at ${ctx.at(key)}; keep one of them.`,
    );
  }
  return inBlock ?? raw[key];
}

/**
 * How a file kind's raw values become inputs: `scale` (the kind's default) and `offset`, `mean`, `std` as
 * written, directly in the entry or in its `preprocess` block (the same spec either way, so the same keys).
 */
export function normalisationOf(
  raw: Readonly<Record<string, unknown>>,
  defaultScale: number,
  ctx: DataEntryContext,
): Normalisation {
  const [scale, offset, mean, std] = NORMALISATION_KEYS.map((k) => once(raw, k, ctx));
  return {
    scale: (scale as number | undefined) ?? defaultScale,
    offset: (offset as number | undefined) ?? 0,
    ...(mean ? { mean: mean as number[] } : {}),
    ...(std ? { std: std as number[] } : {}),
  };
}

/** An image's `channels`: written directly (older recipes) or in `preprocess`; default 3. */
export function imageChannelsOf(raw: Readonly<Record<string, unknown>>, ctx: DataEntryContext): 1 | 3 | 4 {
  return (once(raw, 'channels', ctx) as 1 | 3 | 4 | undefined) ?? 3;
}

/** The image settings a `preprocess` block may hold (its other keys are the normalisation's). */
const IMAGE_KEYS = ['size', 'resize', 'order', 'pad', 'channels'] as const;

/** Whether the entry's `preprocess` block sets an image setting (images: `channels` is the entry's own either way). */
export function hasImagePreprocess(raw: Readonly<Record<string, unknown>>, arrays = false): boolean {
  const b = block(raw);
  return IMAGE_KEYS.some((k) => (arrays || k !== 'channels') && b[k] !== undefined);
}

/**
 * The image settings of the `preprocess` block, with their defaults; none when the block sets none, so an
 * entry with only normalisation keys in it is the same spec as one with them written directly. `arrays`:
 * `channels` belongs here (images keep theirs in the spec's own `channels`).
 */
export function imagePreprocessOf(
  raw: Readonly<Record<string, unknown>>,
  ctx: DataEntryContext,
  arrays: boolean,
): { preprocess?: ImagePreprocess } {
  if (!hasImagePreprocess(raw, arrays)) return {};
  const b = block(raw);
  // An image entry's own `size` joins the block (the spec then has no `size` of its own: see images.ts).
  const size = (arrays ? b.size : once(raw, 'size', ctx)) as number | [number, number] | undefined;
  const resize = (b.resize as ResizeMode | undefined) ?? 'stretch';
  const order = (b.order as 'rgb' | 'bgr' | undefined) ?? 'rgb';
  const channels = arrays ? (b.channels as 1 | 3 | 4 | undefined) : imageChannelsOf(raw, ctx);
  const fail = (key: string, why: string): never => {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`data.${ctx.role}.preprocess.${key}\` at ${ctx.at('preprocess', key)} ${why}`,
    );
  };
  if (b.pad !== undefined && resize !== 'letterbox')
    fail(
      'pad',
      `is the value letterbox pads with, but \`resize\` is ${resize}; set \`resize: letterbox\`, or remove \`pad\`.`,
    );
  if (order === 'bgr' && channels === 1)
    fail(
      'order',
      'is `bgr`, but the inputs have 1 channel (grey has no colour order); remove `order`, or set `channels: 3`.',
    );
  return {
    preprocess: {
      ...(size === undefined ? {} : { size: typeof size === 'number' ? [size, size] : size }),
      resize,
      ...(arrays && channels !== undefined ? { channels } : {}),
      order,
      pad: (b.pad as number | undefined) ?? 0,
    },
  };
}
