import { McbError } from '../errors.js';

/** Class indices, one per sample: as narrow as the class count allows (mnist's are bytes). */
export type Labels = Uint8Array | Uint16Array | Uint32Array;

/**
 * A classification dataset in plain typed arrays: TF.js-free, so planning and keys never need an engine.
 * Label-free data (an image folder without class folders, arrays without `y`) has neither `y` nor
 * `numClasses`: it is measured by fidelity to the baseline only, on outputs of any width.
 */
export interface Dataset {
  name: string;
  /** Samples, row-major, count × prod(inputShape). */
  x: Float32Array;
  /** Class index of each sample; absent for label-free data. */
  y?: Labels;
  count: number;
  inputShape: number[];
  /** Number of classes; absent for label-free data. */
  numClasses?: number;
  /**
   * True when numClasses was inferred from the labels (largest + 1) rather than known (class folders, a one-hot
   * width, `numClasses`): a model with more outputs is then accepted, its extra classes just never the label.
   */
  classesInferred?: boolean;
  /** Class names in label order (image folders), for messages. */
  classNames?: string[];
  /** sha256 of what the loader read (file datasets): checked against the step key, so a file edited mid-build is caught. */
  digest?: string;
}

/** A dataset with labels: what training and accuracy need. */
export interface LabelledDataset extends Dataset {
  y: Labels;
  numClasses: number;
}

export function isLabelled(ds: Dataset): ds is LabelledDataset {
  return ds.y !== undefined && ds.numClasses !== undefined;
}

/** What planning needs to know of a file dataset, read once before plan(): its digest, sample shape and labels. */
export interface DatasetFacts {
  /** sha256 over the files the slice reads (see each loader); in the keys of every step that reads it. */
  digest: string;
  inputShape: number[];
  /** Absent for label-free data. */
  numClasses?: number;
  labelled: boolean;
}

/** A label-free dataset where labels are needed (the planner refuses this first): which data, and what to do. */
export function labelsNeeded(ds: Dataset, what: string): McbError {
  return new McbError(
    'MCB_DATASET',
    `${what} needs labelled data, but ${ds.name} has no labels. Use data with labels (class folders, or a \`y\` array).`,
  );
}
