/** A labelled classification dataset in plain typed arrays: TF.js-free, so planning and keys never need an engine. */
export interface Dataset {
  name: string;
  /** Samples, row-major, count × prod(inputShape). */
  x: Float32Array;
  /** Class index of each sample. */
  y: Uint8Array;
  count: number;
  inputShape: number[];
  numClasses: number;
}
