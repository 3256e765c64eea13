/**
 * NumPy .npy arrays (`dataset: npy`), and the array → dataset conversion the .npz loader shares.
 *
 * The format (numpy/lib/format.py, NEP 1) is small enough to read here: the magic "\x93NUMPY", a major and
 * minor version, the header length (2 bytes little-endian in v1, 4 in v2 and v3), then an ASCII (v3: UTF-8)
 * Python dict literal — `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 28, 28), }` — padded so the
 * data starts on a 64-byte boundary, then the values in C order. Object arrays (pickles) and structured
 * dtypes are refused; Fortran order is refused rather than transposed, so what is read is what numpy shows.
 */
import { McbError } from '../errors.js';
import type { NpyDataSpec, NpzDataSpec } from '../recipe/index.js';
import { ContentDigest, labelArray, normaliser, readDataFile } from './files.js';
import { arraySampleShape, preprocessSample, reduceChannels } from './preprocess.js';
import type { Dataset, DatasetFacts, Labels } from './types.js';

export interface NpyArray {
  /** The dtype as numpy writes it: '<f4', '>i8', '|u1', '|b1'. */
  descr: string;
  kind: 'b' | 'u' | 'i' | 'f';
  itemSize: number;
  littleEndian: boolean;
  shape: number[];
  /** The data section: exactly prod(shape)·itemSize bytes. */
  data: Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** The dtypes read, by kind and item size. */
const SIZES: Record<NpyArray['kind'], number[]> = { b: [1], u: [1, 2, 4, 8], i: [1, 2, 4, 8], f: [2, 4, 8] };
const SUPPORTED = 'u1 i1 u2 i2 u4 i4 u8 i8 f2 f4 f8 and bool';

/** Parses a .npy file's header and locates its data; `name` says which file (or archive member) it is. */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  const bad = (why: string, fix = 'Write it with numpy.save (or np.savez for an archive).'): McbError =>
    new McbError('MCB_DATASET', `${name} ${why}. ${fix}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw bad('is not a NumPy .npy array (it does not start with "\\x93NUMPY")');
  const major = bytes[6]!;
  if (major < 1 || major > 3)
    throw bad(`uses .npy format version ${major}.${bytes[7]}, which mcbuild does not read (it reads 1.0, 2.0 and 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (start + headerLen > bytes.length) throw bad('is truncated: its header runs past the end of the file');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));

  if (/'descr'\s*:\s*\[/.test(header))
    throw bad('has a structured dtype (named fields)', 'Save each field as its own plain numeric array.');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw bad(`has a header mcbuild cannot read (${JSON.stringify(header.trim().slice(0, 120))})`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0))
    throw bad(`has a header with an unreadable shape (${shapeText})`);

  const m = /^([<>|=])?([a-zA-Z?])(\d*)$/.exec(descr);
  const order = m?.[1] ?? '|';
  let kindChar = m?.[2];
  let itemSize = Number(m?.[3] || '0');
  if (kindChar === '?') [kindChar, itemSize] = ['b', 1];
  const kind = kindChar as NpyArray['kind'] | undefined;
  if (!m || !kind || !(kind in SIZES) || !SIZES[kind].includes(itemSize)) {
    const what =
      kindChar === 'O'
        ? 'Python objects (a pickle)'
        : kindChar === 'U' || kindChar === 'S'
          ? 'strings'
          : kindChar === 'c'
            ? 'complex numbers'
            : `the dtype ${JSON.stringify(descr)}`;
    throw bad(
      `holds ${what}, which mcbuild does not read; it reads ${SUPPORTED}`,
      'Convert it first, e.g. np.save(path, a.astype(np.float32)).',
    );
  }
  // One-dimensional arrays are the same in either order; numpy itself writes them as C order.
  if (fortran === 'True' && shape.length > 1) {
    throw bad(
      'is stored in Fortran (column-major) order, which mcbuild does not read',
      'Save it in C order: np.save(path, np.ascontiguousarray(a)).',
    );
  }
  const dataStart = start + headerLen;
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart < count * itemSize) {
    throw bad(
      `is truncated: its header promises ${count.toLocaleString('en-US')} values of ${itemSize} bytes (shape [${shape.join(', ')}]), but only ${bytes.length - dataStart} bytes of data follow`,
      'Write it again; a download or copy may have been cut short.',
    );
  }
  return {
    descr,
    kind,
    itemSize,
    littleEndian: order !== '>',
    shape,
    data: bytes.subarray(dataStart, dataStart + count * itemSize),
  };
}

/** A reader of element i as a JavaScript number (64-bit integers beyond 2^53 lose precision, as in float64). */
export function elementReader(a: NpyArray): (i: number) => number {
  const v = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const le = a.littleEndian;
  switch (`${a.kind}${a.itemSize}`) {
    case 'b1':
    case 'u1':
      return (i) => a.data[i]!;
    case 'i1':
      return (i) => v.getInt8(i);
    case 'u2':
      return (i) => v.getUint16(i * 2, le);
    case 'i2':
      return (i) => v.getInt16(i * 2, le);
    case 'u4':
      return (i) => v.getUint32(i * 4, le);
    case 'i4':
      return (i) => v.getInt32(i * 4, le);
    case 'u8':
      return (i) => Number(v.getBigUint64(i * 8, le));
    case 'i8':
      return (i) => Number(v.getBigInt64(i * 8, le));
    case 'f2':
      return (i) => halfToNumber(v.getUint16(i * 2, le));
    case 'f4':
      return (i) => v.getFloat32(i * 4, le);
    case 'f8':
      return (i) => v.getFloat64(i * 8, le);
  }
  throw new Error(`elementReader: unexpected dtype ${a.descr}`); // parseNpy admits only the cases above
}

/** IEEE 754 binary16 → number (subnormals, infinities and NaN included). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The options arrays share: `limit`, `numClasses` and the normalisation. */
type ArraySpec = Pick<
  NpyDataSpec | NpzDataSpec,
  'limit' | 'numClasses' | 'scale' | 'offset' | 'mean' | 'std' | 'preprocess'
>;

/** The sample shape of x [N, ...inputShape], refused when x has no sample axis or no values per sample. */
function sampleShape(x: NpyArray, xName: string): number[] {
  if (x.shape.length < 2 || x.shape.slice(1).some((d) => d === 0)) {
    throw new McbError(
      'MCB_DATASET',
      `${xName} has shape [${x.shape.join(', ')}]; inputs must be [samples, ...input shape] (e.g. [N, 28, 28, 1] or [N, 784]). Reshape it, e.g. x[..., np.newaxis] for one channel.`,
    );
  }
  if (x.shape[0] === 0) {
    throw new McbError(
      'MCB_DATASET',
      `${xName} has shape [${x.shape.join(', ')}]: it holds no samples. Write the inputs array with at least one sample, or point \`x\` at the right array.`,
    );
  }
  return x.shape.slice(1);
}

/** The arrays as a dataset: x normalised to float32, y as class indices (from indices or one-hot rows). */
export function arraysToDataset(
  name: string,
  x: NpyArray,
  xName: string,
  y: NpyArray | undefined,
  yName: string | undefined,
  spec: ArraySpec,
  where: string,
): Dataset {
  const stored = sampleShape(x, xName);
  const pre = spec.preprocess;
  const inputShape = arraySampleShape(stored, pre, xName, where);
  const total = x.shape[0]!;
  const count = Math.min(total, spec.limit ?? Number.POSITIVE_INFINITY);
  const storedSize = stored.reduce((a, b) => a * b, 1);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const channels = inputShape[inputShape.length - 1]!;
  const { a, b } = normaliser(spec, channels, where);
  const read = elementReader(x);
  const value = (i: number): number => {
    const raw = read(i);
    if (!Number.isFinite(raw)) {
      throw new McbError(
        'MCB_DATASET',
        `${xName} holds ${raw} at sample ${Math.floor(i / storedSize)} (flat index ${i}); inputs must be finite numbers. Clean the data (np.isfinite(x).all() must hold).`,
      );
    }
    return raw;
  };
  const out = new Float32Array(count * size);
  if (!pre) {
    for (let i = 0; i < out.length; i++) out[i] = value(i) * a[i % channels]! + b[i % channels]!;
  } else {
    // Image settings: each sample as raw float64 pixels, through channels, order and size, then normalised.
    const [h, w, c] = stored as [number, number, number];
    for (let n = 0; n < count; n++) {
      const raw = Float64Array.from({ length: storedSize }, (_, k) => value(n * storedSize + k));
      const sample = reduceChannels({ data: raw, height: h, width: w, channels: c }, channels);
      const done = preprocessSample(sample, pre, [h, w]).data;
      for (let k = 0; k < size; k++) out[n * size + k] = done[k]! * a[k % channels]! + b[k % channels]!;
    }
  }
  const ds: Dataset = { name, x: out, count, inputShape };
  if (y && yName) Object.assign(ds, readLabels(y, yName, total, count, spec.numClasses));
  return ds;
}

/** Class indices from y [N] (or [N, 1]) integers, or y [N, C] one-hot rows, checked against x's sample count. */
function readLabels(
  y: NpyArray,
  yName: string,
  total: number,
  count: number,
  numClasses: number | undefined,
): { y: Labels; numClasses: number; classesInferred?: true } {
  const fail = (why: string, fix = ''): never => {
    throw new McbError('MCB_DATASET', `${yName} ${why}.${fix ? ` ${fix}` : ''}`);
  };
  if (y.shape[0] !== total)
    fail(
      `has ${y.shape[0] ?? 0} rows but the inputs have ${total} samples`,
      'x and y must hold the same samples in the same order.',
    );
  const read = elementReader(y);
  const oneHot = y.shape.length === 2 && y.shape[1]! > 1;
  if (!(y.shape.length === 1 || (y.shape.length === 2 && y.shape[1]! >= 1)))
    fail(`has shape [${y.shape.join(', ')}]; labels must be [N] class indices or [N, C] one-hot rows`);
  const indices = new Float64Array(count);
  if (oneHot) {
    const width = y.shape[1]!;
    for (let i = 0; i < count; i++) {
      let hot = -1;
      for (let c = 0; c < width; c++) {
        const v = read(i * width + c);
        if (v === 1 && hot === -1) hot = c;
        else if (v !== 0)
          fail(
            `row ${i} is not one-hot (${JSON.stringify(Array.from({ length: Math.min(width, 12) }, (_, k) => read(i * width + k)))}${width > 12 ? ', …' : ''}); one-hot labels have a single 1 and zeros elsewhere`,
            'Soft labels cannot be scored by accuracy; pass argmax class indices instead.',
          );
      }
      if (hot === -1) fail(`row ${i} has no 1; one-hot labels have a single 1 per row`);
      indices[i] = hot;
    }
    if (numClasses !== undefined && numClasses !== width)
      fail(
        `is one-hot with ${width} classes, but \`numClasses\` is ${numClasses}`,
        'Remove numClasses (the one-hot width decides), or fix it.',
      );
  } else {
    for (let i = 0; i < count; i++) {
      const v = read(i);
      if (!Number.isInteger(v) || v < 0)
        fail(
          `holds ${v} at row ${i}; class indices are integers from 0`,
          y.kind === 'f'
            ? 'Convert them with y.astype(np.int64) if they are whole numbers, or take argmax of probability rows.'
            : '',
        );
      indices[i] = v;
    }
  }
  let max = -1;
  for (const v of indices) max = Math.max(max, v);
  const classes = oneHot ? y.shape[1]! : (numClasses ?? max + 1);
  if (max >= classes)
    fail(`holds the class ${max}, but \`numClasses\` is ${classes}`, 'Raise numClasses, or fix the labels.');
  if (classes > 2 ** 32) fail(`names ${classes} classes; at most 2^32 are supported`);
  const labels = labelArray(count, classes);
  labels.set(indices);
  return {
    y: labels,
    numClasses: Math.max(1, classes),
    ...(!oneHot && numClasses === undefined ? { classesInferred: true as const } : {}),
  };
}

/** Facts of arrays for planning: shape from x's header, classes from y's values. */
export function arraysFacts(
  x: NpyArray,
  xName: string,
  y: NpyArray | undefined,
  yName: string | undefined,
  spec: ArraySpec,
  digest: string,
  where: string,
): DatasetFacts {
  const inputShape = arraySampleShape(sampleShape(x, xName), spec.preprocess, xName, where);
  // The normalisation's lengths are checked now, so a bad `mean` fails the plan rather than a step.
  normaliser(spec, inputShape[inputShape.length - 1]!, where);
  if (!y || !yName) return { digest, inputShape, labelled: false };
  const total = x.shape[0]!;
  const { numClasses } = readLabels(
    y,
    yName,
    total,
    Math.min(total, spec.limit ?? Number.POSITIVE_INFINITY),
    spec.numClasses,
  );
  return { digest, inputShape, numClasses, labelled: true };
}

interface NpyFiles {
  x: NpyArray;
  y?: NpyArray;
  digest: string;
}

async function readNpyFiles(spec: NpyDataSpec): Promise<NpyFiles> {
  const xBytes = await readDataFile(spec.x, '`x`:');
  const yBytes = spec.y === undefined ? undefined : await readDataFile(spec.y, '`y`:');
  // Both files' bytes, under fixed names: the key follows their content, not where they are.
  const digest = new ContentDigest().add('x', xBytes);
  if (yBytes) digest.add('y', yBytes);
  return {
    x: parseNpy(xBytes, spec.x),
    ...(yBytes && spec.y ? { y: parseNpy(yBytes, spec.y) } : {}),
    digest: digest.hex(),
  };
}

export async function loadNpy(spec: NpyDataSpec, where: string): Promise<Dataset> {
  const f = await readNpyFiles(spec);
  const name = `npy:${spec.x.split(/[\\/]/).pop()}${spec.limit === undefined ? '' : `[:${spec.limit}]`}`;
  return { ...arraysToDataset(name, f.x, spec.x, f.y, spec.y, spec, where), digest: f.digest };
}

export async function npyFacts(spec: NpyDataSpec, where: string): Promise<DatasetFacts> {
  const f = await readNpyFiles(spec);
  return arraysFacts(f.x, spec.x, f.y, spec.y, spec, f.digest, where);
}
