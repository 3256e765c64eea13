/**
 * Resampling HWC images held as float64 raw values (0..255 for pixels), in plain TypeScript: deterministic
 * (float64, a fixed order of sums), the same bytes on every backend and machine, and no TF.js needed to read
 * data. tf.image.resizeBilinear would tie the data to the backend (the wasm and tensorflow backends round
 * differently in float32) and cannot antialias; decoding, not resampling, is what costs (bench: data-decode).
 */
import type { ResizeMode } from '../recipe/index.js';

/** An HWC image of raw values. */
export interface Pixels {
  data: Float64Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * Bilinear resize with half-pixel centres, as TF's resizeBilinear(halfPixelCenters: true), not antialiased:
 * source coordinate (o + 0.5)·in/out − 0.5, the two neighbours clamped to the image, weights from its
 * fraction. The images kind's own `size` (recipes before `preprocess`) keeps it, so their data and keys do
 * not move. The identity when the size is unchanged.
 */
export function resizeBilinear(
  src: Float64Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
): Float64Array {
  if (height === outHeight && width === outWidth) return src;
  const out = new Float64Array(outHeight * outWidth * channels);
  const axis = (inSize: number, outSize: number) => {
    const lo = new Int32Array(outSize);
    const hi = new Int32Array(outSize);
    const frac = new Float64Array(outSize);
    for (let o = 0; o < outSize; o++) {
      const s = ((o + 0.5) * inSize) / outSize - 0.5;
      const f = Math.floor(s);
      lo[o] = Math.max(f, 0);
      hi[o] = Math.min(Math.ceil(s), inSize - 1);
      frac[o] = s - f;
    }
    return { lo, hi, frac };
  };
  const ys = axis(height, outHeight);
  const xs = axis(width, outWidth);
  for (let oy = 0; oy < outHeight; oy++) {
    const top = ys.lo[oy]! * width;
    const bottom = ys.hi[oy]! * width;
    const ly = ys.frac[oy]!;
    for (let ox = 0; ox < outWidth; ox++) {
      const left = xs.lo[ox]!;
      const right = xs.hi[ox]!;
      const lx = xs.frac[ox]!;
      for (let c = 0; c < channels; c++) {
        const tl = src[(top + left) * channels + c]!;
        const tr = src[(top + right) * channels + c]!;
        const bl = src[(bottom + left) * channels + c]!;
        const br = src[(bottom + right) * channels + c]!;
        const t = tl + (tr - tl) * lx;
        const b = bl + (br - bl) * lx;
        out[(oy * outWidth + ox) * channels + c] = t + (b - t) * ly;
      }
    }
  }
  return out;
}

/** For each output index along one axis: the source indices it reads and their weights (summing to 1). */
interface Taps {
  /** Output o reads idx/wts[start[o] .. start[o + 1]). */
  start: Int32Array;
  idx: Int32Array;
  wts: Float64Array;
}

/**
 * The taps of a triangle (bilinear) filter mapping the source span [from, from + span) of an axis of `inSize`
 * pixels onto `outSize` pixels. Pixel i covers [i, i + 1); output o's centre falls on from + (o + 0.5)·scale.
 * Shrinking (scale > 1) widens the triangle to `scale` pixels, so every source pixel counts (antialiasing, as
 * PIL's BILINEAR and tf.image.resize(antialias=true)); enlarging it is TF's half-pixel bilinear. Taps outside
 * the image are dropped and the rest renormalised, which is edge clamping when enlarging.
 */
function taps(from: number, span: number, inSize: number, outSize: number): Taps {
  const scale = span / outSize;
  const support = Math.max(1, scale);
  const start = new Int32Array(outSize + 1);
  const idx: number[] = [];
  const wts: number[] = [];
  for (let o = 0; o < outSize; o++) {
    start[o] = idx.length;
    const centre = from + (o + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support));
    const last = Math.min(inSize - 1, Math.ceil(centre + support));
    let sum = 0;
    const at = idx.length;
    for (let i = first; i <= last; i++) {
      const w = 1 - Math.abs(i + 0.5 - centre) / support;
      if (w <= 0) continue;
      idx.push(i);
      wts.push(w);
      sum += w;
    }
    // A centre beyond the image (never for spans inside it): the nearest edge pixel.
    if (sum === 0) {
      idx.push(Math.min(inSize - 1, Math.max(0, Math.floor(centre))));
      wts.push(1);
      sum = 1;
    }
    for (let k = at; k < wts.length; k++) wts[k]! /= sum;
  }
  start[outSize] = idx.length;
  return { start, idx: Int32Array.from(idx), wts: Float64Array.from(wts) };
}

/** The source window [y, y + h) × [x, x + w) of `src` resampled to outHeight × outWidth, rows then columns. */
export function resampleWindow(
  src: Pixels,
  window: { y: number; x: number; h: number; w: number },
  outHeight: number,
  outWidth: number,
): Pixels {
  const { width, channels: c } = src;
  const ys = taps(window.y, window.h, src.height, outHeight);
  const xs = taps(window.x, window.w, width, outWidth);
  // Only the source rows some output row reads are resampled across (taps rise with the output index).
  const rowFirst = ys.idx[0] ?? 0;
  const rowLast = ys.idx[ys.idx.length - 1] ?? -1;
  const rows = rowLast - rowFirst + 1;
  const across = new Float64Array(rows * outWidth * c);
  for (let r = 0; r < rows; r++) {
    const srcRow = (rowFirst + r) * width * c;
    for (let ox = 0; ox < outWidth; ox++) {
      const o = (r * outWidth + ox) * c;
      for (let k = xs.start[ox]!; k < xs.start[ox + 1]!; k++) {
        const s = srcRow + xs.idx[k]! * c;
        const w = xs.wts[k]!;
        for (let ch = 0; ch < c; ch++) across[o + ch]! += src.data[s + ch]! * w;
      }
    }
  }
  const out = new Float64Array(outHeight * outWidth * c);
  const rowSize = outWidth * c;
  for (let oy = 0; oy < outHeight; oy++) {
    const o = oy * rowSize;
    for (let k = ys.start[oy]!; k < ys.start[oy + 1]!; k++) {
      const s = (ys.idx[k]! - rowFirst) * rowSize;
      const w = ys.wts[k]!;
      for (let j = 0; j < rowSize; j++) out[o + j]! += across[s + j]! * w;
    }
  }
  return { data: out, height: outHeight, width: outWidth, channels: c };
}

/**
 * `src` fitted to height × width by `mode`: `stretch` scales each axis on its own; `centre-crop` scales
 * uniformly to cover the size and keeps the middle (the cut is exact, in fractions of a pixel); `letterbox`
 * scales uniformly to fit inside, centred (extra pixels of an odd margin go to the bottom and right), and
 * fills the margins with `pad`. The identity when the size is already right.
 */
export function fitTo(src: Pixels, height: number, width: number, mode: ResizeMode, pad: number): Pixels {
  const { height: h, width: w } = src;
  if (h === height && w === width) return src;
  if (mode === 'stretch') return resampleWindow(src, { y: 0, x: 0, h, w }, height, width);
  if (mode === 'centre-crop') {
    const s = Math.max(height / h, width / w);
    const ch = height / s;
    const cw = width / s;
    return resampleWindow(src, { y: (h - ch) / 2, x: (w - cw) / 2, h: ch, w: cw }, height, width);
  }
  const s = Math.min(height / h, width / w);
  const ih = Math.min(height, Math.max(1, Math.round(h * s)));
  const iw = Math.min(width, Math.max(1, Math.round(w * s)));
  const inner = resampleWindow(src, { y: 0, x: 0, h, w }, ih, iw);
  const c = src.channels;
  const out = new Float64Array(height * width * c).fill(pad);
  const top = Math.floor((height - ih) / 2);
  const left = Math.floor((width - iw) / 2);
  for (let y = 0; y < ih; y++)
    out.set(inner.data.subarray(y * iw * c, (y + 1) * iw * c), ((top + y) * width + left) * c);
  return { data: out, height, width, channels: c };
}
