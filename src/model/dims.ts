/** A dimension: null where the model leaves it open (always the batch). */
export type Dim = number | null;
/** A tensor shape, batch first: [null, 14, 14, 32]. */
export type Shape = Dim[];
