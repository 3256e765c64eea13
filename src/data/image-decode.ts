/**
 * Reading image files: PNG by pngjs (16-bit images at 8 bits, palettes expanded), JPEG by jpeg-js with memory
 * and resolution limits; both pure JS, chosen by the file's first bytes, not its name. Then the channels the
 * model takes: 1 is grey (ITU-R BT.601 luma, as TF's rgb_to_grayscale), 3 RGB (grey repeated), 4 RGBA.
 *
 * decodeCount() counts the decodes this process made, and with MCBUILD_COUNT_DECODES=<file> each decode
 * appends the image's path to that file: how the tests see that a rebuild decodes nothing.
 */
import { appendFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { McbError } from '../errors.js';
import { LUMA } from './preprocess.js';

/** Larger images are refused before decoding: a dataset image this big is a mistake, or a decompression bomb. */
const MAX_MEGAPIXELS = 64;
/** jpeg-js's cap on what one decode may allocate. */
const MAX_JPEG_MEMORY_MB = 512;

/** A decoded image: 8-bit RGBA, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

let decodes = 0;

/** How many images this process has decoded (successfully or not) since it started. */
export function decodeCount(): number {
  return decodes;
}

function problem(text: string): McbError {
  return new McbError('MCB_DATASET', text);
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/**
 * An image's [height, width] from its header alone (PNG's IHDR, JPEG's start-of-frame marker), without
 * decoding it: what planning needs. Undefined when the header cannot be read (decodeImage then says why).
 */
export function imageSize(bytes: Uint8Array): [number, number] | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isPng(bytes)) return bytes.length >= 24 ? [v.getUint32(20), v.getUint32(16)] : undefined;
  if (!isJpeg(bytes)) return undefined;
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return [v.getUint16(at + 5), v.getUint16(at + 7)];
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) at += 2;
    else at += 2 + v.getUint16(at + 2);
  }
  return undefined;
}

/** Decodes a PNG or JPEG (by its first bytes) to 8-bit RGBA; a damaged or unsupported file names itself. */
export function decodeImage(bytes: Uint8Array, file: string): Rgba {
  decodes++;
  const log = process.env.MCBUILD_COUNT_DECODES;
  if (log) appendFileSync(log, `${file}\n`);
  const fail = (why: string): McbError =>
    problem(`${file} ${why}. Re-export it as PNG or baseline JPEG, or move it out of the image folder.`);
  if (isPng(bytes)) {
    if (bytes.length >= 24) {
      // IHDR width and height, checked before pngjs allocates the pixels.
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const mp = (v.getUint32(16) * v.getUint32(20)) / 1e6;
      if (mp > MAX_MEGAPIXELS)
        throw fail(
          `is ${v.getUint32(16)}×${v.getUint32(20)} pixels (${mp.toFixed(0)} MP); mcbuild decodes at most ${MAX_MEGAPIXELS} MP per image`,
        );
    }
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return {
        width: png.width,
        height: png.height,
        data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
      };
    } catch (e) {
      throw fail(`is not a readable PNG (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (isJpeg(bytes)) {
    try {
      // tolerantDecoding off: a truncated JPEG is an error, not an image with a grey bottom half.
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        tolerantDecoding: false,
        maxResolutionInMP: MAX_MEGAPIXELS,
        maxMemoryUsageInMB: MAX_JPEG_MEMORY_MB,
      });
      return { width: img.width, height: img.height, data: img.data };
    } catch (e) {
      throw fail(`is not a readable JPEG (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw fail(
    `is named as an image but is neither PNG nor JPEG (it starts with bytes ${head || 'nothing: it is empty'})`,
  );
}

/** RGBA → `channels` raw values (0..255, float64), row-major HWC. */
export function toChannels(img: Rgba, channels: 1 | 3 | 4): Float64Array {
  const n = img.width * img.height;
  const out = new Float64Array(n * channels);
  const d = img.data;
  for (let p = 0; p < n; p++) {
    const r = d[p * 4]!;
    const g = d[p * 4 + 1]!;
    const b = d[p * 4 + 2]!;
    // A grey pixel keeps its value exactly (the weighted sum could be off by an ulp).
    if (channels === 1) out[p] = r === g && g === b ? r : LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
    else {
      out[p * channels] = r;
      out[p * channels + 1] = g;
      out[p * channels + 2] = b;
      if (channels === 4) out[p * 4 + 3] = d[p * 4 + 3]!;
    }
  }
  return out;
}
