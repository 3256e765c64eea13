/**
 * Image folders (`dataset: images`): `path/<class>/<file>.png|jpg`, optionally under `train/` and `test/`.
 *
 * - Classes are the sub-folders, sorted by name, or `classes: [...]` in the model's label order. A folder
 *   with image files and no sub-folders is label-free (fidelity only), as is `labels: false`.
 * - Files are read in sorted order, class-interleaved like the mnist loader (file 0 of every class, then
 *   file 1, …), so any `limit` prefix is class-balanced. Names starting with a dot (.DS_Store) are skipped.
 * - PNG is decoded by pngjs (16-bit images at 8 bits, palettes expanded), JPEG by jpeg-js with memory and
 *   resolution limits; both pure JS, chosen by the file's first bytes, not its name.
 * - Channels: 1 is grey (ITU-R BT.601 luma, as TF's rgb_to_grayscale), 3 RGB (grey repeated), 4 RGBA;
 *   alpha is dropped for 1 and 3. Then a bilinear resize with half-pixel centres (TF's resizeBilinear with
 *   halfPixelCenters) to `size`, in float64 on raw 0..255 values, then the normalisation.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { errnoCode, McbError } from '../errors.js';
import type { ImagesDataSpec } from '../recipe/index.js';
import { ContentDigest, labelArray, normaliser, readDataFile, shortPath } from './files.js';
import type { Dataset, DatasetFacts } from './types.js';

/** Larger images are refused before decoding: a dataset image this big is a mistake, or a decompression bomb. */
const MAX_MEGAPIXELS = 64;
/** jpeg-js's cap on what one decode may allocate. */
const MAX_JPEG_MEMORY_MB = 512;
const IMAGE_FILE = /\.(png|jpe?g)$/i;
/** The most values one Float32Array holds: the decoded slice is one array. */
const MAX_VALUES = 2 ** 32 - 1;
/** ITU-R BT.601 luma weights: TF's rgb_to_grayscale and PIL's "L" conversion use these. */
const LUMA = [0.299, 0.587, 0.114] as const;

/** A decoded image: 8-bit RGBA, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

interface FolderFile {
  /** Relative to the folder read (the split folder when there is one), with forward slashes. */
  rel: string;
  label?: number;
}

interface Listing {
  /** The folder read: `path`, or `path/train` / `path/test`. */
  root: string;
  /** Class names in label order, when labels are read. */
  classes?: string[];
  /** Every image in read order (class-interleaved). */
  files: FolderFile[];
}

/** One paragraph for every problem with the folder: what is wrong, with which file, and the fix. */
function problem(text: string): McbError {
  return new McbError('MCB_DATASET', text);
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path)).isDirectory();
}

/** Whether a symbolic link points to a folder; a dangling link is the user's to fix, named, not a crash. */
async function linkIsDirectory(path: string): Promise<boolean> {
  try {
    return await isDirectory(path);
  } catch (e) {
    const code = errnoCode(e);
    throw problem(
      `${path} is a symbolic link to ${code === 'ENOENT' ? 'something that does not exist' : `something that cannot be read (${code ?? String(e)})`}. Fix or remove the link.`,
    );
  }
}

/** Entries of a folder that are not hidden, split into folders and files (symbolic links followed), sorted. */
async function entries(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const folder = e.isDirectory() || (e.isSymbolicLink() && (await linkIsDirectory(join(dir, e.name))));
    (folder ? dirs : files).push(e.name);
  }
  return { dirs: dirs.sort(), files: files.sort() };
}

function checkImageNames(dir: string, files: string[]): void {
  const other = files.find((f) => !IMAGE_FILE.test(f));
  if (other !== undefined) {
    throw problem(
      `${join(dir, other)} is not an image mcbuild reads (by its name: it reads .png, .jpg and .jpeg). Move it out of the image folder (names starting with a dot are skipped), or convert it to PNG.`,
    );
  }
}

/** The folder's layout: split sub-folders, class folders or a flat label-free folder, in read order. */
async function listFolder(spec: ImagesDataSpec): Promise<Listing> {
  let top: { dirs: string[]; files: string[] };
  try {
    if (!(await isDirectory(spec.path)))
      throw problem(
        `the image folder ${spec.path} is a file, not a folder. Set \`path\` to the folder that holds one sub-folder of images per class.`,
      );
    top = await entries(spec.path);
  } catch (e) {
    if (e instanceof McbError) throw e;
    const code = errnoCode(e);
    throw problem(
      `the image folder ${spec.path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`}. Check \`path\`; it is relative to the recipe file that sets it.`,
    );
  }
  // A folder of nothing but train/ and test/ is split by them; anything else beside them makes them classes.
  const split = top.files.length === 0 && top.dirs.length > 0 && top.dirs.every((d) => d === 'train' || d === 'test');
  let root = spec.path;
  if (split) {
    if (!top.dirs.includes(spec.split)) {
      const other = spec.split === 'train' ? 'test' : 'train';
      throw problem(
        `the image folder ${spec.path} is split into ${other}/ only, but this data reads its ${spec.split}/ sub-folder (the default for ${spec.split === 'test' ? 'data.eval' : 'training and calibration data'}). Add ${spec.split}/, or set \`split: ${other}\`.`,
      );
    }
    root = join(spec.path, spec.split);
  }
  const { dirs, files } = split ? await entries(root) : top;
  if (dirs.length > 0 && files.length > 0) {
    throw problem(
      `the image folder ${root} holds both class folders (${dirs.slice(0, 3).join('/, ')}/) and image files (${files.slice(0, 3).join(', ')}); put every image in the folder of its class, or, for label-free data, remove the sub-folders.`,
    );
  }
  if (dirs.length === 0) {
    if (files.length === 0)
      throw problem(
        `the image folder ${root} holds no images and no class folders. Put the images in one sub-folder per class (\`${shortPath(root)}/cat/001.png\`), or directly in it for label-free data.`,
      );
    if (spec.classes)
      throw problem(
        `\`classes\` lists ${spec.classes.length} classes, but the image folder ${root} has no class sub-folders (its images are label-free). Put the images in one folder per class, or remove \`classes\`.`,
      );
    checkImageNames(root, files);
    return { root, files: files.map((rel) => ({ rel })) };
  }
  const classes = spec.classes ?? dirs;
  const missing = classes.find((c) => !dirs.includes(c));
  if (missing !== undefined)
    throw problem(
      `\`classes\` lists ${JSON.stringify(missing)}, but the image folder ${root} has no sub-folder of that name (it has ${dirs.map((d) => JSON.stringify(d)).join(', ')}). Fix the name, or add the folder.`,
    );
  const unlisted = dirs.find((d) => !classes.includes(d));
  if (unlisted !== undefined)
    throw problem(
      `the image folder ${root} has a class folder ${JSON.stringify(unlisted)} that \`classes\` does not list; add it in its label position, or move the folder out.`,
    );
  const perClass: string[][] = [];
  for (const c of classes) {
    const inside = await entries(join(root, c));
    if (inside.dirs.length)
      throw problem(
        `the class folder ${join(root, c)} has a sub-folder ${inside.dirs[0]}/; a class folder holds image files only. Move its images up, or out.`,
      );
    if (inside.files.length === 0)
      throw problem(
        `the class folder ${join(root, c)} holds no images; every class needs at least one. Add images, or remove the folder${spec.classes ? ' and its entry in `classes`' : ''}.`,
      );
    checkImageNames(join(root, c), inside.files);
    perClass.push(inside.files.map((f) => `${c}/${f}`));
  }
  const labels = spec.labels !== false;
  const ordered: FolderFile[] = [];
  const longest = Math.max(...perClass.map((f) => f.length));
  for (let i = 0; i < longest; i++) {
    perClass.forEach((files, label) => {
      if (i < files.length) ordered.push(labels ? { rel: files[i]!, label } : { rel: files[i]! });
    });
  }
  return { root, files: ordered, ...(labels ? { classes } : {}) };
}

/** The slice is decoded into one float32 array: refuse, with the numbers and the fix, one that cannot be. */
function checkSliceSize(root: string, count: number, size: readonly number[], channels: number): void {
  const values = count * size[0]! * size[1]! * channels;
  if (values > MAX_VALUES) {
    throw problem(
      `the image folder ${root} would decode to ${count.toLocaleString('en-US')} images × ${size[0]}×${size[1]}×${channels} = ${values.toExponential(2)} values (${((values * 4) / 2 ** 30).toFixed(1)} GiB as float32), more than mcbuild holds at once (${MAX_VALUES.toExponential(2)} values). Set \`limit\` to read fewer images, or a smaller \`size\`.`,
    );
  }
}

/** Reads the slice's files (the first `limit` in read order) and the digest of the listing and those bytes. */
async function readSlice(
  spec: ImagesDataSpec,
  listing: Listing,
): Promise<{ picked: FolderFile[]; bytes: Uint8Array[]; digest: string }> {
  const picked = listing.files.slice(0, spec.limit ?? listing.files.length);
  // The whole listing (it decides the order and the labels), then the bytes of the files the slice reads: a
  // file beyond `limit` that changes does not change the data, one added anywhere may.
  const digest = new ContentDigest().text('listing', listing.files.map((f) => `${f.rel}\t${f.label ?? ''}`).join('\n'));
  const bytes: Uint8Array[] = [];
  for (const f of picked) {
    const b = await readDataFile(join(listing.root, f.rel), 'the image');
    digest.add(f.rel, b);
    bytes.push(b);
  }
  return { picked, bytes, digest: digest.hex() };
}

/** Decodes a PNG or JPEG (by its first bytes) to 8-bit RGBA; a damaged or unsupported file names itself. */
export function decodeImage(bytes: Uint8Array, file: string): Rgba {
  const fail = (why: string): McbError =>
    problem(`${file} ${why}. Re-export it as PNG or baseline JPEG, or move it out of the image folder.`);
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng) {
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
  if (isJpeg) {
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

/**
 * Bilinear resize of an HWC image with half-pixel centres, as TF's resizeBilinear(halfPixelCenters: true):
 * source coordinate (o + 0.5)·in/out − 0.5, the two neighbours clamped to the image, weights from its
 * fraction. Deterministic (float64, fixed order); the identity when the size is unchanged.
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

export async function loadImages(spec: ImagesDataSpec, where: string): Promise<Dataset> {
  const listing = await listFolder(spec);
  const { picked, bytes, digest } = await readSlice(spec, listing);
  const channels = spec.channels;
  let size = spec.size;
  const { a, b } = normaliser(spec, channels, where);
  let x = new Float32Array(0);
  let per = 0;
  for (let i = 0; i < picked.length; i++) {
    const file = join(listing.root, picked[i]!.rel);
    const img = decodeImage(bytes[i]!, file);
    // Without `size`, the first image's size is every image's.
    size ??= [img.height, img.width];
    if (i === 0) {
      checkSliceSize(listing.root, picked.length, size, channels);
      per = size[0] * size[1] * channels;
      x = new Float32Array(picked.length * per);
    }
    const raw = resizeBilinear(toChannels(img, channels), img.height, img.width, channels, size[0], size[1]);
    const offset = i * per;
    for (let k = 0; k < per; k++) x[offset + k] = raw[k]! * a[k % channels]! + b[k % channels]!;
  }
  const name = `images:${shortPath(listing.root)}${spec.limit === undefined ? '' : `[:${spec.limit}]`}`;
  const ds: Dataset = { name, x, count: picked.length, inputShape: [...(size ?? [0, 0]), channels], digest };
  if (listing.classes) {
    const y = labelArray(picked.length, listing.classes.length);
    picked.forEach((f, i) => (y[i] = f.label!));
    Object.assign(ds, { y, numClasses: listing.classes.length, classNames: listing.classes });
  }
  return ds;
}

export async function imagesFacts(spec: ImagesDataSpec, where: string): Promise<DatasetFacts> {
  const listing = await listFolder(spec);
  const { picked, bytes, digest } = await readSlice(spec, listing);
  normaliser(spec, spec.channels, where);
  // The shape needs the first image only when `size` is not given; decoding it also catches a bad first file now.
  const first = decodeImage(bytes[0]!, join(listing.root, picked[0]!.rel));
  const size = spec.size ?? [first.height, first.width];
  checkSliceSize(listing.root, picked.length, size, spec.channels);
  return {
    digest,
    inputShape: [...size, spec.channels],
    labelled: listing.classes !== undefined,
    ...(listing.classes ? { numClasses: listing.classes.length } : {}),
  };
}
