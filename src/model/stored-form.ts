/**
 * Never bigger by accident. Passes decode the weights they read to float32 and write back what they made; a
 * source stored quantized by tensorflowjs_converter (uint8, uint16, float16) would come out up to four times
 * larger although most of its tensors did not change. After a pass, each output tensor is compared with the
 * input tensor of the same name, and a tensor keeps the source's stored form when
 *  1. its values are those of the input, bit for bit, and the pass's form is not smaller (a pass that only
 *     decoded and re-wrote it); or
 *  2. its values changed but every one of them is exactly representable in the input's native form (pruned
 *     zeros on a converter's uint8 grid, which makes zero exact): same form, new bytes; or
 *  3. the pass stored it in a larger native form (float16 of a uint8 tensor), and its values are only the
 *     input's, rounded to that form: storing them again loses precision and grows the model.
 * Engine-free; the comparisons are byte compares (memcmp), and values are decoded only where the stored forms
 * differ, so a 14 MB model takes milliseconds.
 */
import { canonicalJson } from '../util/hash.js';
import {
  elementCount,
  weightByteLength,
  type NativeQuantization,
  type StoredModel,
  type WeightSpec,
} from './format.js';
import { decodeWeight, float16Table, float32ToFloat16 } from './weights.js';

/** What a pass changed, tensor by tensor, after stored forms were kept (step meta `changed`). */
export interface WeightChanges {
  /** Tensors whose stored form or bytes differ from the input's, new tensors and removed ones. */
  tensors: number;
  /** Values of those tensors (a removed tensor counts its input values). */
  params: number;
  /** Tensors and values of the output. */
  totalTensors: number;
  totalParams: number;
  /** Tensors the pass re-wrote in a larger form without changing them (rules 1 and 3): kept as the source stored them. */
  kept: number;
  /** Changed tensors written in the source's native form (rule 2). */
  regridded: number;
}

interface Stored {
  spec: WeightSpec;
  bytes: Uint8Array;
}

function storedWeights(model: StoredModel): Stored[] {
  const out: Stored[] = [];
  let off = 0;
  for (const spec of model.weightSpecs) {
    const len = weightByteLength(spec);
    out.push({ spec, bytes: model.weightData.subarray(off, off + len) });
    off += len;
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

const isNative = (q: WeightSpec['quantization']): q is NativeQuantization =>
  q !== undefined && (q.dtype === 'uint8' || q.dtype === 'uint16' || q.dtype === 'float16');

/** The output with the input's stored forms kept where the rules above allow, and what the pass changed. */
export function keepStoredForms(
  input: StoredModel,
  output: StoredModel,
): { model: StoredModel; changes: WeightChanges } {
  const before = new Map(storedWeights(input).map((w) => [w.spec.name, w]));
  const seen = new Set<string>();
  const written: Stored[] = [];
  const changes: WeightChanges = { tensors: 0, params: 0, totalTensors: 0, totalParams: 0, kept: 0, regridded: 0 };
  let rewritten = false;
  for (const o of storedWeights(output)) {
    const n = elementCount(o.spec.shape);
    changes.totalTensors++;
    changes.totalParams += n;
    seen.add(o.spec.name);
    const i = before.get(o.spec.name);
    const kept = i ? keepOne(i, o) : { w: o, changed: true };
    if (kept.w !== o) rewritten = true;
    if (kept.kept) changes.kept++;
    if (kept.regridded) changes.regridded++;
    if (kept.changed) {
      changes.tensors++;
      changes.params += n;
    }
    written.push(kept.w);
  }
  for (const [name, i] of before) {
    if (seen.has(name)) continue;
    changes.tensors++;
    changes.params += elementCount(i.spec.shape);
  }
  if (!rewritten) return { model: output, changes };
  const weightData = new Uint8Array(written.reduce((s, w) => s + w.bytes.byteLength, 0));
  let off = 0;
  for (const w of written) {
    weightData.set(w.bytes, off);
    off += w.bytes.byteLength;
  }
  return { model: { ...output, weightSpecs: written.map((w) => w.spec), weightData }, changes };
}

function keepOne(i: Stored, o: Stored): { w: Stored; changed: boolean; kept?: boolean; regridded?: boolean } {
  const sameSpec = canonicalJson(i.spec) === canonicalJson(o.spec);
  if (sameSpec) return { w: o, changed: !sameBytes(i.bytes, o.bytes) };
  const shapeKept = canonicalJson(i.spec.shape) === canonicalJson(o.spec.shape);
  // Only float tensors are re-encoded; a smaller form is the pass's point (quantize, encode), never undone.
  if (!shapeKept || i.spec.dtype !== 'float32' || o.spec.dtype !== 'float32' || o.bytes.byteLength < i.bytes.byteLength)
    return { w: o, changed: true };
  const vi = decodeWeight(i.spec, i.bytes, { share: true }).values as Float32Array;
  const vo = decodeWeight(o.spec, o.bytes, { share: true }).values as Float32Array;
  if (
    sameBytes(
      new Uint8Array(vi.buffer, vi.byteOffset, vi.byteLength),
      new Uint8Array(vo.buffer, vo.byteOffset, vo.byteLength),
    )
  )
    return { w: i, changed: false, kept: true };
  const q = i.spec.quantization;
  if (isNative(q) && o.spec.quantization === undefined) {
    const bytes = onGrid(q, vo);
    if (bytes) return { w: { spec: { ...o.spec, quantization: { ...q } }, bytes }, changed: true, regridded: true };
  }
  if (q !== undefined && isNative(o.spec.quantization) && reencodes(vi, o.spec.quantization, vo))
    return { w: i, changed: false, kept: true };
  return { w: o, changed: true };
}

/** `values` in the native form `q` (same min and scale), when each decodes back to itself exactly; else undefined. */
function onGrid(q: NativeQuantization, values: Float32Array): Uint8Array | undefined {
  const n = values.length;
  if (q.dtype === 'float16') {
    const half = new Uint16Array(n);
    const table = float16Table();
    for (let k = 0; k < n; k++) {
      const h = float32ToFloat16(values[k]!);
      if (table[h] !== values[k]) return undefined;
      half[k] = h;
    }
    return new Uint8Array(half.buffer);
  }
  const scale = q.scale ?? 1;
  const min = q.min ?? 0;
  const top = q.dtype === 'uint8' ? 255 : 65535;
  const ints = q.dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  for (let k = 0; k < n; k++) {
    const v = values[k]!;
    const step = scale === 0 ? 0 : Math.round((v - min) / scale);
    // The decoder's own arithmetic (double, then float32): only values it gives back exactly qualify.
    if (!(step >= 0 && step <= top) || Math.fround(step * scale + min) !== v) return undefined;
    ints[k] = step;
  }
  return new Uint8Array(ints.buffer);
}

/** Whether `out` (decoded from native form `q`) is `input` rounded to that form and nothing else. */
function reencodes(input: Float32Array, q: NativeQuantization, out: Float32Array): boolean {
  const n = input.length;
  if (q.dtype === 'float16') {
    const table = float16Table();
    for (let k = 0; k < n; k++) if (table[float32ToFloat16(input[k]!)] !== out[k]) return false;
    return true;
  }
  // Affine: each value within half a step of its input (the encoder's rounding; a hair more for float error).
  const tolerance = (q.scale ?? 1) * 0.5 * (1 + 1e-5) + 1e-12;
  for (let k = 0; k < n; k++) if (!(Math.abs(out[k]! - input[k]!) <= tolerance)) return false;
  return true;
}

/**
 * Rounds `values` in place to the nearest value the native form `spec.quantization` stores (float16, or the
 * affine uint8/uint16 grid of its min and scale); a no-op for other forms. For a pass that computes a few new
 * values for a tensor (cluster's centroids) from values that lay on that grid: moved at most half a step, they
 * stay representable, and keepStoredForms keeps the tensor in the source's form instead of float32.
 */
export function roundToStoredGrid(spec: WeightSpec, values: Float32Array): void {
  const q = spec.quantization;
  if (!isNative(q)) return;
  if (q.dtype === 'float16') {
    const table = float16Table();
    for (let k = 0; k < values.length; k++) values[k] = table[float32ToFloat16(values[k]!)]!;
    return;
  }
  const scale = q.scale ?? 1;
  const min = q.min ?? 0;
  const top = q.dtype === 'uint8' ? 255 : 65535;
  if (scale === 0) return;
  for (let k = 0; k < values.length; k++) {
    const step = Math.min(top, Math.max(0, Math.round((values[k]! - min) / scale)));
    values[k] = step * scale + min;
  }
}
