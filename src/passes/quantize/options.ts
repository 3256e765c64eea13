/** quantize's resolved options (./index.ts resolves them, ./apply.ts applies them). */
import type { PackedDtype } from '../../runtime/decode.js';

export type QuantizeOptions =
  | { dtype: 'float16' | 'bfloat16' | 'uint8' | 'uint16'; granularity: 'per-tensor' }
  | {
      dtype: PackedDtype;
      granularity: 'per-tensor' | 'per-channel' | 'per-group';
      /** per-group only. */
      groupSize?: number;
      symmetric: boolean;
      clip: 'none' | 'mse';
    };
