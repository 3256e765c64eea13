import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFacts, loadDataset } from '../../src/data/index.js';
import { elementReader, halfToNumber, parseNpy } from '../../src/data/npy.js';
import { McbError } from '../../src/errors.js';
import type { NpyDataSpec, NpzDataSpec } from '../../src/recipe/index.js';
import { ROOT, tempDir } from '../helpers.js';

// Made by test/fixtures/npy/make_fixtures.py with numpy (the values are spelled out there); no Python here.
const FIXTURES = join(ROOT, 'test', 'fixtures', 'npy');
const fixture = (name: string) => join(FIXTURES, name);
const tmp = tempDir('mcbuild-arrays-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function values(name: string): { descr: string; shape: number[]; values: number[] } {
  const a = parseNpy(readFileSync(fixture(name)), name);
  const read = elementReader(a);
  return {
    descr: a.descr,
    shape: a.shape,
    values: Array.from({ length: a.data.length / a.itemSize }, (_, i) => read(i)),
  };
}

const npy = (over: Partial<NpyDataSpec>): NpyDataSpec => ({
  dataset: 'npy',
  x: fixture('x_u1.npy'),
  scale: 1,
  offset: 0,
  ...over,
});
const npz = (over: Partial<NpzDataSpec>): NpzDataSpec => ({
  dataset: 'npz',
  path: fixture('stored.npz'),
  x: 'x',
  scale: 1,
  offset: 0,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McbError);
  expect((e as McbError).code).toBe('MCB_DATASET');
  return (e as McbError).message;
}

describe('.npy: the header and every dtype, against numpy-made files', () => {
  it('reads each dtype and byte order to the values numpy wrote', () => {
    expect(values('x_u1.npy')).toEqual({
      descr: '|u1',
      shape: [4, 2, 2, 1],
      values: Array.from({ length: 16 }, (_, i) => i * 17),
    });
    expect(values('x_f2.npy')).toEqual({
      descr: '<f2',
      shape: [2, 4],
      values: [0.5, -1.25, 65504, 2 ** -24, 1, 0, -0, 3.140625],
    });
    expect(values('x_f4_be.npy')).toEqual({
      descr: '>f4',
      shape: [2, 3],
      values: [1.5, -2.25, 3, 0.1, 1e-3, -7].map(Math.fround),
    });
    expect(values('x_i2_be.npy')).toEqual({ descr: '>i2', shape: [2, 2], values: [-300, 2, 32767, -32768] });
    expect(values('x_f8.npy').values).toEqual([1 / 3, -2, 1e-10, 4]);
    expect(values('x_i1.npy').values).toEqual([-128, 127, 0, -1]);
    expect(values('x_u2.npy').values).toEqual([65535, 1, 256, 0]);
    expect(values('x_i4.npy').values).toEqual([-2147483648, 7, 2147483647, 0]);
    expect(values('x_i8.npy')).toMatchObject({ descr: '<i8', values: [-5, 2 ** 40, 0, 9] });
    expect(values('y_bool.npy')).toEqual({ descr: '|b1', shape: [4], values: [0, 1, 1, 0] });
    // Header versions 2.0 and 3.0 (a 4-byte header length).
    expect(values('x_v2.npy').values).toEqual([0, 1, 2, 3, 4, 5]);
    expect(values('x_v3.npy').values).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('float16: subnormals, infinities and NaN', () => {
    expect(halfToNumber(0x0001)).toBe(2 ** -24);
    expect(halfToNumber(0x7bff)).toBe(65504);
    expect(halfToNumber(0xfc00)).toBe(-Infinity);
    expect(halfToNumber(0x7e00)).toBeNaN();
    expect(Object.is(halfToNumber(0x8000), -0)).toBe(true);
  });

  it('refuses Fortran order, pickles, structured dtypes, truncated and foreign files, naming the file and the fix', () => {
    const msg = (name: string, bytes = readFileSync(fixture(name))) => {
      try {
        parseNpy(bytes, name);
      } catch (e) {
        expect(e).toBeInstanceOf(McbError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(msg('x_fortran.npy')).toMatch(
      /^x_fortran\.npy is stored in Fortran \(column-major\) order.*np\.ascontiguousarray/,
    );
    expect(msg('x_object.npy')).toMatch(/holds Python objects \(a pickle\).*astype\(np\.float32\)/);
    expect(msg('x_struct.npy')).toMatch(/structured dtype/);
    expect(msg('cut.npy', readFileSync(fixture('x_f8.npy')).subarray(0, 140))).toMatch(
      /is truncated: its header promises 4 values of 8 bytes \(shape \[2, 2\]\)/,
    );
    expect(msg('x.csv', Buffer.from('1,2,3\n'))).toMatch(/is not a NumPy \.npy array/);
  });
});

describe('npy and npz datasets', () => {
  it('x [N, ...shape] with scale/offset/mean/std per channel; y as indices, one-hot or bool', async () => {
    const ds = await loadDataset(npy({ y: fixture('y_i8.npy'), scale: 1 / 255 }));
    expect(ds.inputShape).toEqual([2, 2, 1]);
    expect(ds.count).toBe(4);
    expect(Array.from(ds.x)).toEqual(Array.from({ length: 16 }, (_, i) => Math.fround((i * 17) / 255)));
    expect(Array.from(ds.y!)).toEqual([0, 2, 1, 2]);
    expect(ds.numClasses).toBe(3);
    expect(ds.classesInferred).toBe(true);
    const hot = await loadDataset(npy({ y: fixture('y_onehot_f4.npy'), mean: [127.5], std: [127.5] }));
    expect(Array.from(hot.y!)).toEqual([0, 2, 1, 2]);
    expect(hot.classesInferred).toBeUndefined();
    expect(hot.x[0]).toBe(-1);
    expect(hot.x[15]).toBe(1);
    const bool = await loadDataset(npy({ y: fixture('y_bool.npy'), numClasses: 2, limit: 3 }));
    expect(Array.from(bool.y!)).toEqual([0, 1, 1]);
    expect(bool.count).toBe(3);
    expect(bool.x.length).toBe(12);
    const free = await loadDataset(npy({}));
    expect(free.y).toBeUndefined();
    expect(free.numClasses).toBeUndefined();
    const f16 = await loadDataset(npy({ x: fixture('x_f2.npy'), offset: 1 }));
    expect(Array.from(f16.x)).toEqual([1.5, -0.25, 65505, 1 + 2 ** -24, 2, 1, 1, 4.140625].map(Math.fround));
  });

  it('npz: stored (np.savez) and deflated (np.savez_compressed) archives, y by default, labels: false', async () => {
    const stored = await loadDataset(npz({}));
    expect(Array.from(stored.y!)).toEqual([0, 2, 1, 2]); // `y` read because the archive has it
    const deflated = await loadDataset(npz({ path: fixture('deflated.npz'), x: 'x_test', y: 'y_test' }));
    expect(Array.from(deflated.x)).toEqual(
      Array.from({ length: 16 }, (_, i) => Math.fround(Math.fround(i * 17) / 255)),
    );
    expect(Array.from(deflated.y!)).toEqual([0, 2, 1, 2]);
    expect((await loadDataset(npz({ labels: false }))).y).toBeUndefined();
    expect((await loadDataset(npz({ path: fixture('unlabelled.npz') }))).y).toBeUndefined();
    const facts = await datasetFacts(npz({}), 'here');
    expect(facts).toMatchObject({ inputShape: [2, 2, 1], numClasses: 3, labelled: true });
    expect(facts!.digest).toBe(stored.digest);
  });

  it('errors: mismatched rows, bad labels, non-finite inputs, missing arrays, damaged archives, missing files', async () => {
    expect(await failure(loadDataset(npy({ y: fixture('y_short.npy') })))).toMatch(
      /y_short\.npy has 2 rows but the inputs have 4 samples/,
    );
    expect(await failure(loadDataset(npy({ y: fixture('y_bad_float.npy') })))).toMatch(
      /y_bad_float\.npy holds 1\.5 at row 1; class indices are integers from 0/,
    );
    expect(await failure(loadDataset(npy({ y: fixture('y_i8.npy'), numClasses: 2 })))).toMatch(
      /holds the class 2, but `numClasses` is 2/,
    );
    expect(await failure(loadDataset(npy({ x: fixture('x_nan.npy') })))).toMatch(
      /x_nan\.npy holds NaN at sample 0 \(flat index 1\)/,
    );
    expect(await failure(loadDataset(npy({ x: fixture('y_i8.npy') })))).toMatch(
      /has shape \[4\]; inputs must be \[samples, \.\.\.input shape\]/,
    );
    expect(await failure(loadDataset(npy({ x: fixture('x_u1.npy'), mean: [1, 2] }), 'THE-PLACE'))).toMatch(
      /^THE-PLACE: `mean` has 2 values, but the inputs have 1 channel /,
    );
    expect(await failure(loadDataset(npz({ x: 'x_train' })))).toMatch(
      /stored\.npz has no array "x_train" for the inputs \(its arrays: "x", "y"\); set `x:`/,
    );
    expect(await failure(loadDataset(npz({ y: 'labels' })))).toMatch(/has no array "labels" for the labels/);
    // x with no samples: refused when planning and when loading, not a TF.js crash at evaluation.
    const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 28, 28, 1), }";
    const padded = header + ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
    const emptyX = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length & 0xff, padded.length >> 8]),
      Buffer.from(padded, 'latin1'),
    ]);
    writeFileSync(join(tmp, 'empty.npy'), emptyX);
    expect(await failure(datasetFacts(npy({ x: join(tmp, 'empty.npy') }), 'here'))).toMatch(
      /empty\.npy has shape \[0, 28, 28, 1\]: it holds no samples/,
    );
    expect(await failure(loadDataset(npy({ x: join(tmp, 'empty.npy') })))).toMatch(/holds no samples/);
    const bad = join(tmp, 'bad.npz');
    writeFileSync(bad, readFileSync(fixture('deflated.npz')).subarray(0, 300));
    expect(await failure(loadDataset(npz({ path: bad })))).toMatch(/bad\.npz is not a readable \.npz archive/);
    expect(await failure(loadDataset(npy({ x: join(tmp, 'nope.npy') })))).toMatch(
      /`x`: .*nope\.npy does not exist\. Check the path/,
    );
    // A one-hot row with two 1s: soft labels are refused.
    const twoHot = join(tmp, 'two.npz');
    const member = readFileSync(fixture('y_onehot_f4.npy'));
    const patched = Buffer.from(member);
    patched.writeFloatLE(1, patched.length - 4 * 12 + 4); // row 0 becomes [1, 1, 0]
    writeFileSync(twoHot, zipSync({ 'x.npy': readFileSync(fixture('x_u1.npy')), 'y.npy': patched }));
    expect(await failure(loadDataset(npz({ path: twoHot })))).toMatch(/row 0 is not one-hot \(\[1,1,0\]\)/);
  });
});
