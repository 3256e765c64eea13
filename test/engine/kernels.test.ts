/**
 * The wasm training kernels against references: the cpu backend's kernels where they are right, and a direct
 * float64 evaluation of the definition where they are not (the cpu depthwise backprop kernels ignore `dilations`).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels, wasmTrainingKernels } from '../../src/engine/kernels/index.js';

type Shape4 = [number, number, number, number];
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | number | ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rng = mulberry32(20240611);
const int = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

function values(size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng() * 2 - 1;
  return out;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

async function onBackend<T>(name: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(name);
  return fn();
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(expected[i] as number));
    maxErr = Math.max(maxErr, Math.abs((actual[i] as number) - (expected[i] as number)));
  }
  expect(maxErr, `${label}: max abs error ${maxErr} (max |ref| ${maxRef})`).toBeLessThanOrEqual(1e-4 * Math.max(1, maxRef));
}

/** Runs a kernel on the current backend, checking it leaves exactly one new tensor and one new data buffer. */
function runChecked(name: string, inputs: tf.NamedTensorMap, attrs: object): Float32Array {
  const tensorsBefore = tf.memory().numTensors;
  const buffersBefore = tf.engine().backend.numDataIds();
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  expect(tf.memory().numTensors, `${name} leaked tensors`).toBe(tensorsBefore + 1);
  expect(tf.engine().backend.numDataIds(), `${name} leaked data buffers`).toBe(buffersBefore + 1);
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}

interface ConvCase {
  x: Shape4;
  filter: Shape4; // [KH, KW, Ci, Co] or, depthwise, [KH, KW, C, M]
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dimRoundingMode: Rounding;
}

function describeCase(c: ConvCase): string {
  return `x=${c.x} f=${c.filter} s=${c.strides} d=${c.dilations} pad=${JSON.stringify(c.pad)} round=${c.dimRoundingMode}`;
}

/** Random valid configurations; dilation > 1 only with stride 1, as TF.js's depthwise gradient allows. */
function randomCases(count: number, depthwise: boolean): ConvCase[] {
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const x: Shape4 = [int(1, 4), int(3, 13), int(3, 13), int(1, 6)];
    const filter: Shape4 = [int(1, 5), int(1, 5), x[3], depthwise ? int(1, 2) : int(1, 12)];
    const strides: [number, number] = pick([[1, 1], [2, 2], [1, 2], [2, 1]] as const).slice() as [number, number];
    const dilated = depthwise && strides[0] === 1 && strides[1] === 1 && rng() < 0.4;
    const dilations: [number, number] = dilated ? [2, pick([1, 2])] : [1, 1];
    const padKind = pick(['same', 'valid', 'number', 'explicit'] as const);
    let pad: Pad = padKind === 'same' || padKind === 'valid' ? padKind : int(0, 2);
    if (padKind === 'explicit') pad = [[0, 0], [int(0, 2), int(0, 2)], [int(0, 2), int(0, 2)], [0, 0]];
    const dimRoundingMode: Rounding = padKind === 'number' ? pick([undefined, 'floor', 'round', 'ceil'] as const) : undefined;
    const c = { x, filter, strides, dilations, pad, dimRoundingMode };
    const info = tf.backend_util.computeConv2DInfo(x, filter, strides, dilations, pad, dimRoundingMode, depthwise);
    if (info.outHeight >= 1 && info.outWidth >= 1) cases.push(c);
  }
  return cases;
}

/** Shapes like the layers of a small CNN, on top of the random ones. */
const realisticConv: ConvCase[] = [
  // Ci*KH*KW <= Co takes the im2col path, larger the convolution path; both appear among the first layers here.
  { x: [4, 28, 28, 1], filter: [3, 3, 1, 16], strides: [1, 1], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [4, 28, 28, 1], filter: [3, 3, 1, 8], strides: [1, 1], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [3, 14, 14, 8], filter: [3, 3, 8, 16], strides: [2, 2], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [2, 12, 10, 16], filter: [3, 3, 16, 8], strides: [1, 1], dilations: [1, 1], pad: 'valid', dimRoundingMode: undefined },
  { x: [2, 9, 9, 12], filter: [1, 1, 12, 24], strides: [1, 1], dilations: [1, 1], pad: 'valid', dimRoundingMode: undefined },
  { x: [2, 9, 9, 12], filter: [1, 1, 12, 5], strides: [2, 2], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [2, 16, 13, 3], filter: [5, 5, 3, 4], strides: [2, 1], dilations: [1, 1], pad: 2, dimRoundingMode: 'ceil' },
];
const realisticDepthwise: ConvCase[] = [
  { x: [4, 28, 28, 8], filter: [3, 3, 8, 1], strides: [2, 2], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [3, 14, 14, 16], filter: [3, 3, 16, 2], strides: [1, 1], dilations: [1, 1], pad: 'same', dimRoundingMode: undefined },
  { x: [2, 15, 12, 6], filter: [5, 3, 6, 2], strides: [1, 1], dilations: [2, 2], pad: 'same', dimRoundingMode: undefined },
  { x: [2, 13, 11, 4], filter: [3, 3, 4, 1], strides: [2, 2], dilations: [1, 1], pad: 'valid', dimRoundingMode: undefined },
];

// Direct float64 evaluation of the definitions (TF semantics, dilation included).
function referenceFilterGrad(xv: Float32Array, dyv: Float32Array, c: ConvCase, depthwise: boolean): Float64Array {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, c.dimRoundingMode, depthwise);
  const [n, h, w, ch] = c.x;
  const [kh, kw, , last] = c.filter;
  const { outHeight: oh, outWidth: ow, outChannels: oc } = info;
  const out = new Float64Array(sizeOf(c.filter));
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < kh; i++) {
        const r = y * c.strides[0] + i * c.dilations[0] - info.padInfo.top;
        if (r < 0 || r >= h) continue;
        for (let x = 0; x < ow; x++)
          for (let j = 0; j < kw; j++) {
            const col = x * c.strides[1] + j * c.dilations[1] - info.padInfo.left;
            if (col < 0 || col >= w) continue;
            const xo = ((b * h + r) * w + col) * ch;
            const yo = ((b * oh + y) * ow + x) * oc;
            for (let cc = 0; cc < ch; cc++)
              for (let o = 0; o < last; o++) {
                const dyIndex = depthwise ? yo + cc * last + o : yo + o;
                out[((i * kw + j) * ch + cc) * last + o]! += xv[xo + cc]! * dyv[dyIndex]!;
              }
          }
      }
  return out;
}

function referenceDepthwiseInputGrad(dyv: Float32Array, fv: Float32Array, c: ConvCase): Float64Array {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, c.dimRoundingMode, true);
  const [n, h, w, ch] = c.x;
  const [kh, kw, , m] = c.filter;
  const { outHeight: oh, outWidth: ow } = info;
  const out = new Float64Array(sizeOf(c.x));
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < kh; i++) {
        const r = y * c.strides[0] + i * c.dilations[0] - info.padInfo.top;
        if (r < 0 || r >= h) continue;
        for (let x = 0; x < ow; x++)
          for (let j = 0; j < kw; j++) {
            const col = x * c.strides[1] + j * c.dilations[1] - info.padInfo.left;
            if (col < 0 || col >= w) continue;
            for (let cc = 0; cc < ch; cc++)
              for (let o = 0; o < m; o++) {
                out[((b * h + r) * w + col) * ch + cc]! +=
                  dyv[((b * oh + y) * ow + x) * ch * m + cc * m + o]! * fv[((i * kw + j) * ch + cc) * m + o]!;
              }
          }
      }
  return out;
}

interface Prepared {
  c: ConvCase;
  x: Float32Array;
  dy: Float32Array;
  filter: Float32Array;
  dyShape: Shape4;
}

function prepare(cases: ConvCase[], depthwise: boolean): Prepared[] {
  return cases.map((c) => {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, c.dimRoundingMode, depthwise);
    return { c, x: values(sizeOf(c.x)), dy: values(sizeOf(info.outShape)), filter: values(sizeOf(c.filter)), dyShape: info.outShape };
  });
}

const dilated = (c: ConvCase): boolean => c.dilations[0] > 1 || c.dilations[1] > 1;

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('registerWasmTrainingKernels', () => {
  it('registers all three kernels for wasm and is idempotent', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    for (const config of wasmTrainingKernels) {
      expect(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc).toBe(config.kernelFunc);
    }
    expect(wasmTrainingKernels.map((k) => k.kernelName).sort()).toEqual([
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
    ]);
  });

  it('rejects NCHW with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 3, 5, 5]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 2, 3],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });
});

describe('Conv2DBackpropFilter on wasm', () => {
  it('matches the cpu kernel on random and CNN-like shapes, without leaks', async () => {
    const prepared = prepare([...realisticConv, ...randomCases(100, false)], false);
    const attrs = (p: Prepared) => ({
      strides: p.c.strides,
      pad: p.c.pad,
      dataFormat: 'NHWC',
      dimRoundingMode: p.c.dimRoundingMode,
      filterShape: p.c.filter,
    });
    const run = (p: Prepared) =>
      tf.tidy(() => runChecked('Conv2DBackpropFilter', { x: tf.tensor(p.x, p.c.x), dy: tf.tensor(p.dy, p.dyShape) }, attrs(p)));
    const expected = await onBackend('cpu', () => prepared.map(run));
    await tf.setBackend('wasm');
    prepared.forEach((p, i) => expectClose(run(p), expected[i]!, describeCase(p.c)));
  });
});

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  it('matches the cpu kernel (dilation 1) or the definition (dilation 2), without leaks', async () => {
    const prepared = prepare([...realisticDepthwise, ...randomCases(100, true)], true);
    expect(prepared.some((p) => dilated(p.c))).toBe(true);
    const run = (p: Prepared) =>
      tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(p.x, p.c.x), dy: tf.tensor(p.dy, p.dyShape) },
          { strides: p.c.strides, dilations: p.c.dilations, pad: p.c.pad, dimRoundingMode: p.c.dimRoundingMode, filterShape: p.c.filter },
        ),
      );
    const expected = await onBackend('cpu', () =>
      prepared.map((p) => (dilated(p.c) ? referenceFilterGrad(p.x, p.dy, p.c, true) : run(p))),
    );
    await tf.setBackend('wasm');
    prepared.forEach((p, i) => expectClose(run(p), expected[i]!, describeCase(p.c)));
  });
});

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  it('matches the cpu kernel (dilation 1) or the definition (dilation 2), without leaks', async () => {
    const prepared = prepare([...realisticDepthwise, ...randomCases(100, true)], true);
    const run = (p: Prepared) =>
      tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(p.dy, p.dyShape), filter: tf.tensor(p.filter, p.c.filter) },
          { strides: p.c.strides, dilations: p.c.dilations, pad: p.c.pad, dimRoundingMode: p.c.dimRoundingMode, inputShape: p.c.x },
        ),
      );
    const expected = await onBackend('cpu', () =>
      prepared.map((p) => (dilated(p.c) ? referenceDepthwiseInputGrad(p.dy, p.filter, p.c) : run(p))),
    );
    await tf.setBackend('wasm');
    prepared.forEach((p, i) => expectClose(run(p), expected[i]!, describeCase(p.c)));
  });

  it('agrees with the float64 definition where the cpu kernel is right (guards the reference itself)', async () => {
    const prepared = prepare(randomCases(6, true).filter((c) => !dilated(c)), true);
    await tf.setBackend('cpu');
    for (const p of prepared) {
      const cpu = tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(p.dy, p.dyShape), filter: tf.tensor(p.filter, p.c.filter) },
          { strides: p.c.strides, dilations: p.c.dilations, pad: p.c.pad, dimRoundingMode: p.c.dimRoundingMode, inputShape: p.c.x },
        ),
      );
      expectClose(referenceDepthwiseInputGrad(p.dy, p.filter, p.c), cpu, describeCase(p.c));
      const cpuFilter = tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(p.x, p.c.x), dy: tf.tensor(p.dy, p.dyShape) },
          { strides: p.c.strides, dilations: p.c.dilations, pad: p.c.pad, dimRoundingMode: p.c.dimRoundingMode, filterShape: p.c.filter },
        ),
      );
      expectClose(referenceFilterGrad(p.x, p.dy, p.c, true), cpuFilter, describeCase(p.c));
    }
    await tf.setBackend('wasm');
  });
});

describe('gradients through the ops on wasm', () => {
  it('tf.grads of conv2d uses the kernel (no "not registered") and matches cpu', async () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number; pad: 'same' | 'valid' }> = [
      { x: [2, 9, 7, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
      { x: [3, 10, 11, 2], f: [3, 2, 2, 5], s: 2, pad: 'valid' },
      { x: [2, 8, 8, 4], f: [2, 2, 4, 2], s: 2, pad: 'same' },
    ];
    const data = cases.map((c) => ({ c, x: values(sizeOf(c.x)), f: values(sizeOf(c.f)) }));
    const grads = () =>
      data.map(({ c, x, f }) =>
        tf.tidy(() => {
          const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad))),
          );
          return g([tf.tensor(x, c.x), tf.tensor(f, c.f)]).map((t) => t.dataSync() as Float32Array);
        }),
      );
    const expected = await onBackend('cpu', grads);
    const actual = await onBackend('wasm', grads);
    actual.forEach((pair, i) => {
      expectClose(pair[0]!, expected[i]![0]!, `dx ${JSON.stringify(cases[i])}`);
      expectClose(pair[1]!, expected[i]![1]!, `dfilter ${JSON.stringify(cases[i])}`);
    });
  });

  it('tf.grads of conv2d -> depthwiseConv2d -> relu -> sum matches cpu for every input', async () => {
    const xShape: Shape4 = [3, 12, 10, 2];
    const w1Shape: Shape4 = [3, 3, 2, 4];
    const w2Shape: Shape4 = [3, 3, 4, 2];
    const xv = values(sizeOf(xShape));
    const w1v = values(sizeOf(w1Shape));
    const w2v = values(sizeOf(w2Shape));
    const weightsV = values(3 * 6 * 5 * 8);
    const model = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor): tf.Tensor => {
      const h = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
      const d = tf.depthwiseConv2d(h, w2 as tf.Tensor4D, 2, 'same'); // [3, 6, 5, 8]
      // A fixed random weighting keeps every gradient entry distinct rather than a plain count of positives.
      return tf.sum(tf.mul(tf.relu(d), tf.tensor(weightsV, [3, 6, 5, 8])));
    };
    const grads = () =>
      tf.tidy(() =>
        tf
          .grads(model)([tf.tensor(xv, xShape), tf.tensor(w1v, w1Shape), tf.tensor(w2v, w2Shape)])
          .map((t) => t.dataSync() as Float32Array),
      );
    const expected = await onBackend('cpu', grads);
    const before = (await onBackend('wasm', () => tf.memory().numTensors)) as number;
    const actual = grads();
    expect(tf.memory().numTensors).toBe(before);
    ['x', 'w1', 'w2'].forEach((name, i) => expectClose(actual[i]!, expected[i]!, `d${name}`));
  });
});
