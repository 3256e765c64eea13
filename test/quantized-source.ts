/**
 * Models as tensorflowjs_converter writes them with `--quantize_uint8` / `--quantize_float16`: every float32
 * weight stored quantized in the manifest (`quantization: { dtype: 'uint8', min, scale }`, values
 * round((w - min) / scale), min and max nudged so that zero is exact, as the converter's quantization.py does).
 * TF.js-free: give it a model made by TF.js (fromLayersModel).
 */
import {
  decodeWeights,
  encodeWeights,
  float32ToFloat16,
  type StoredModel,
  type WeightSpec,
} from '../src/model/index.js';

export function converterQuantized(model: StoredModel, dtype: 'uint8' | 'uint16' | 'float16' = 'uint8'): StoredModel {
  return encodeWeights(model.json, decodeWeights(model), (w) => {
    const v = w.values;
    if (!(v instanceof Float32Array)) return undefined;
    if (dtype === 'float16') {
      const half = new Uint16Array(v.length);
      for (let i = 0; i < v.length; i++) half[i] = float32ToFloat16(v[i]!);
      const spec: WeightSpec = { ...w.spec, quantization: { dtype: 'float16' } };
      return { spec, bytes: new Uint8Array(half.buffer) };
    }
    const top = dtype === 'uint8' ? 255 : 65535;
    let lo = 0;
    let hi = 0;
    for (const x of v) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    let scale = 1;
    let min = 0;
    if (hi > lo) {
      scale = (hi - lo) / top;
      // The converter nudges the range so that zero falls exactly on the grid.
      min = -Math.round(-lo / scale) * scale;
    }
    const ints = dtype === 'uint8' ? new Uint8Array(v.length) : new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) ints[i] = Math.min(top, Math.max(0, Math.round((v[i]! - min) / scale)));
    const spec: WeightSpec = { ...w.spec, quantization: { dtype, min, scale } };
    return { spec, bytes: new Uint8Array(ints.buffer) };
  });
}
