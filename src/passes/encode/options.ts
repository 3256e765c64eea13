/** encode's options and stats (./index.ts resolves the options, ./apply.ts applies them). */
import type { DeflateLevel } from '../../algorithms/entropy.js';

export interface EncodeOptions {
  /** DEFLATE level of the LZ77 attempt on short streams, 1 (fastest) to 9 (smallest). */
  level: DeflateLevel;
}

export interface EncodedWeightStats {
  name: string;
  layout: 'dense' | 'sparse';
  /** Distinct symbols the weight uses. */
  symbols: number;
  /** Symbols stored (non-zeros plus gap fillers when sparse). */
  entries: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Stored bits per parameter after encoding. */
  bitsPerWeight: number;
}
