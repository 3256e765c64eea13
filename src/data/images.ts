/**
 * Image folders (`dataset: images`): `path/<class>/<file>.png|jpg`, optionally under `train/` and `test/`.
 *
 * - Classes are the sub-folders, sorted by name, or `classes: [...]` in the model's label order. A folder
 *   with image files and no sub-folders is label-free (fidelity only), as is `labels: false`.
 * - Files are read in sorted order, class-interleaved like the mnist loader (file 0 of every class, then
 *   file 1, …), so any `limit` prefix is class-balanced. Names starting with a dot (.DS_Store) are skipped.
 * - Decoded by ./image-decode.ts (PNG and JPEG by their first bytes) to the channels the model takes.
 * - With image settings in `preprocess` (./preprocess.ts): the colour order, then `size` by `resize`
 *   (antialiased bilinear; stretch, centre-crop or letterbox). Without: the entry's own `size`, a plain
 *   bilinear resize with half-pixel centres (TF's resizeBilinear). Both in float64 on raw 0..255 values
 *   (the preprocessed ones rounded to whole values, an 8-bit image), then the normalisation. Planning reads image sizes from the headers: it decodes nothing.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, McbError } from '../errors.js';
import type { ImagesDataSpec } from '../recipe/index.js';
import { ContentDigest, labelArray, normaliser, readDataFile, shortPath } from './files.js';
import { decodeImage, imageSize, toChannels } from './image-decode.js';
import { checkFit, preprocessSample } from './preprocess.js';
import { resizeBilinear } from './resample.js';
import type { Dataset, DatasetFacts } from './types.js';

const IMAGE_FILE = /\.(png|jpe?g)$/i;
/** The most values one Float32Array holds: the decoded slice is one array. */
const MAX_VALUES = 2 ** 32 - 1;
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

/**
 * Preprocessed pixels rounded to whole values, as an 8-bit image at the model's size: what a browser canvas
 * (tf.browser.fromPixels), PIL or sharp hand a deployed model. It also lets a cached slice be stored as bytes.
 */
function to8Bit(values: Float64Array): Float64Array {
  for (let k = 0; k < values.length; k++) values[k] = Math.round(values[k]!);
  return values;
}

/** The size every image of the slice becomes: the block's, the entry's own, or the first image's (from its header). */
function sliceSize(spec: ImagesDataSpec, first: Uint8Array, file: string): [number, number] {
  const size = spec.preprocess?.size ?? spec.size;
  if (size) return size;
  // A header that cannot be read: decoding says what is wrong with the file.
  const header = imageSize(first);
  if (header) return header;
  const img = decodeImage(first, file);
  return [img.height, img.width];
}

export async function loadImages(spec: ImagesDataSpec, where: string): Promise<Dataset> {
  const listing = await listFolder(spec);
  const { picked, bytes, digest } = await readSlice(spec, listing);
  const channels = spec.channels;
  const pre = spec.preprocess;
  if (pre) checkFit(pre, where);
  const size = sliceSize(spec, bytes[0]!, join(listing.root, picked[0]!.rel));
  checkSliceSize(listing.root, picked.length, size, channels);
  const { a, b } = normaliser(spec, channels, where);
  const per = size[0] * size[1] * channels;
  const x = new Float32Array(picked.length * per);
  for (let i = 0; i < picked.length; i++) {
    const img = decodeImage(bytes[i]!, join(listing.root, picked[i]!.rel));
    const raw = toChannels(img, channels);
    const sized = pre
      ? to8Bit(preprocessSample({ data: raw, height: img.height, width: img.width, channels }, pre, size).data)
      : resizeBilinear(raw, img.height, img.width, channels, size[0], size[1]);
    const offset = i * per;
    for (let k = 0; k < per; k++) x[offset + k] = sized[k]! * a[k % channels]! + b[k % channels]!;
  }
  const name = `images:${shortPath(listing.root)}${spec.limit === undefined ? '' : `[:${spec.limit}]`}`;
  const ds: Dataset = { name, x, count: picked.length, inputShape: [...size, channels], digest };
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
  if (spec.preprocess) checkFit(spec.preprocess, where);
  // The first image's size from its header when no size is set: planning decodes nothing.
  const size = sliceSize(spec, bytes[0]!, join(listing.root, picked[0]!.rel));
  checkSliceSize(listing.root, picked.length, size, spec.channels);
  return {
    digest,
    inputShape: [...size, spec.channels],
    labelled: listing.classes !== undefined,
    ...(listing.classes ? { numClasses: listing.classes.length } : {}),
  };
}
