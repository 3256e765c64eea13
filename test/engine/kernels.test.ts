/**
 * The wasm training kernels against references: the cpu backend's kernels where they are right, and a direct
 * float64 evaluation of the definition where they are not (the cpu depthwise backprop kernels ignore `dilations`).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { buildArchitecture } from '../../src/engine/architectures/index.js';
import { mulberry32 } from '../../src/util/random.js';
import {
  registerWasmTrainingKernels,
  sumRows,
  tileInto,
  wasmKernelOverrides,
  wasmTrainingKernels,
} from '../../src/engine/kernels/index.js';

type Shape4 = [number, number, number, number];
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | number | ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

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
  expect(maxErr, `${label}: max abs error ${maxErr} (max |ref| ${maxRef})`).toBeLessThanOrEqual(
    1e-4 * Math.max(1, maxRef),
  );
}

/** Runs a kernel on the current backend, checking it leaves exactly one new tensor and one new data buffer. */
function runChecked(name: string, inputs: tf.NamedTensorMap, attrs: object): Float32Array {
  const tensorsBefore = tf.memory().numTensors;
  const buffersBefore = tf.engine().backend.numDataIds();
  const out = tf.engine().runKernel<tf.Tensor>(name, inputs, attrs as tf.NamedAttrMap);
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
  return `x=${c.x.join(',')} f=${c.filter.join(',')} s=${c.strides.join(',')} d=${c.dilations.join(',')} pad=${JSON.stringify(c.pad)} round=${c.dimRoundingMode}`;
}

/** Random valid configurations; dilation > 1 only with stride 1, as TF.js's depthwise gradient allows. */
function randomCases(count: number, depthwise: boolean): ConvCase[] {
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const x: Shape4 = [int(1, 4), int(3, 13), int(3, 13), int(1, 6)];
    const filter: Shape4 = [int(1, 5), int(1, 5), x[3], depthwise ? int(1, 2) : int(1, 12)];
    const strides: [number, number] = pick([
      [1, 1],
      [2, 2],
      [1, 2],
      [2, 1],
    ] as const).slice() as [number, number];
    const dilated = depthwise && strides[0] === 1 && strides[1] === 1 && rng() < 0.4;
    const dilations: [number, number] = dilated ? [2, pick([1, 2])] : [1, 1];
    const padKind = pick(['same', 'valid', 'number', 'explicit'] as const);
    let pad: Pad = padKind === 'same' || padKind === 'valid' ? padKind : int(0, 2);
    if (padKind === 'explicit')
      pad = [
        [0, 0],
        [int(0, 2), int(0, 2)],
        [int(0, 2), int(0, 2)],
        [0, 0],
      ];
    const dimRoundingMode: Rounding =
      padKind === 'number' ? pick([undefined, 'floor', 'round', 'ceil'] as const) : undefined;
    const c = { x, filter, strides, dilations, pad, dimRoundingMode };
    const info = tf.backend_util.computeConv2DInfo(x, filter, strides, dilations, pad, dimRoundingMode, depthwise);
    if (info.outHeight >= 1 && info.outWidth >= 1) cases.push(c);
  }
  return cases;
}

/** Shapes like the layers of a small CNN, on top of the random ones. */
const realisticConv: ConvCase[] = [
  // Ci*KH*KW <= Co takes the im2col path, larger the convolution path; both appear among the first layers here.
  {
    x: [4, 28, 28, 1],
    filter: [3, 3, 1, 16],
    strides: [1, 1],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [4, 28, 28, 1],
    filter: [3, 3, 1, 8],
    strides: [1, 1],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [3, 14, 14, 8],
    filter: [3, 3, 8, 16],
    strides: [2, 2],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [2, 12, 10, 16],
    filter: [3, 3, 16, 8],
    strides: [1, 1],
    dilations: [1, 1],
    pad: 'valid',
    dimRoundingMode: undefined,
  },
  {
    x: [2, 9, 9, 12],
    filter: [1, 1, 12, 24],
    strides: [1, 1],
    dilations: [1, 1],
    pad: 'valid',
    dimRoundingMode: undefined,
  },
  {
    x: [2, 9, 9, 12],
    filter: [1, 1, 12, 5],
    strides: [2, 2],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  { x: [2, 16, 13, 3], filter: [5, 5, 3, 4], strides: [2, 1], dilations: [1, 1], pad: 2, dimRoundingMode: 'ceil' },
];
const realisticDepthwise: ConvCase[] = [
  {
    x: [4, 28, 28, 8],
    filter: [3, 3, 8, 1],
    strides: [2, 2],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [3, 14, 14, 16],
    filter: [3, 3, 16, 2],
    strides: [1, 1],
    dilations: [1, 1],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [2, 15, 12, 6],
    filter: [5, 3, 6, 2],
    strides: [1, 1],
    dilations: [2, 2],
    pad: 'same',
    dimRoundingMode: undefined,
  },
  {
    x: [2, 13, 11, 4],
    filter: [3, 3, 4, 1],
    strides: [2, 2],
    dilations: [1, 1],
    pad: 'valid',
    dimRoundingMode: undefined,
  },
];

// Direct float64 evaluation of the definitions (TF semantics, dilation included).
function referenceFilterGrad(xv: Float32Array, dyv: Float32Array, c: ConvCase, depthwise: boolean): Float64Array {
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    c.filter,
    c.strides,
    c.dilations,
    c.pad,
    c.dimRoundingMode,
    depthwise,
  );
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
    const info = tf.backend_util.computeConv2DInfo(
      c.x,
      c.filter,
      c.strides,
      c.dilations,
      c.pad,
      c.dimRoundingMode,
      depthwise,
    );
    return {
      c,
      x: values(sizeOf(c.x)),
      dy: values(sizeOf(info.outShape)),
      filter: values(sizeOf(c.filter)),
      dyShape: info.outShape,
    };
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

  it('replaces the slow wasm kernels once, keeping the originals as fallbacks', async () => {
    registerWasmTrainingKernels();
    for (const { config } of wasmKernelOverrides) {
      expect(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc).toBe(config.kernelFunc);
    }
    expect(wasmKernelOverrides.map((o) => o.config.kernelName).sort()).toEqual([
      'Conv2DBackpropInput',
      'FusedBatchNorm',
      'GreaterEqual',
      'Identity',
      'LessEqual',
      'LogicalAnd',
      'Mean',
      'Slice',
      'Sum',
      'Tile',
    ]);
    // Cases the overrides decline run the captured wasm kernels (a self-bound fallback would recurse forever).
    await tf.setBackend('wasm');
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    const xi = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    expect(Array.from(tf.sum(x, 1).dataSync())).toEqual([4, 6, 12, 14]);
    expect(Array.from(tf.mean(x, [1, 2]).dataSync())).toEqual([2.5, 6.5]);
    expect(Array.from(tf.sum(xi, 0).dataSync())).toEqual([4, 6]);
    expect(tf.sum(xi, 0).dtype).toBe('int32');
    tf.dispose([x, xi]);
  });

  it('rejects NCHW with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 3, 5, 5]);
    expect(() =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: 1,
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 2, 3],
        },
      ),
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
      tf.tidy(() =>
        runChecked('Conv2DBackpropFilter', { x: tf.tensor(p.x, p.c.x), dy: tf.tensor(p.dy, p.dyShape) }, attrs(p)),
      );
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
          {
            strides: p.c.strides,
            dilations: p.c.dilations,
            pad: p.c.pad,
            dimRoundingMode: p.c.dimRoundingMode,
            filterShape: p.c.filter,
          },
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
          {
            strides: p.c.strides,
            dilations: p.c.dilations,
            pad: p.c.pad,
            dimRoundingMode: p.c.dimRoundingMode,
            inputShape: p.c.x,
          },
        ),
      );
    const expected = await onBackend('cpu', () =>
      prepared.map((p) => (dilated(p.c) ? referenceDepthwiseInputGrad(p.dy, p.filter, p.c) : run(p))),
    );
    await tf.setBackend('wasm');
    prepared.forEach((p, i) => expectClose(run(p), expected[i]!, describeCase(p.c)));
  });

  it('agrees with the float64 definition where the cpu kernel is right (guards the reference itself)', async () => {
    const prepared = prepare(
      randomCases(6, true).filter((c) => !dilated(c)),
      true,
    );
    await tf.setBackend('cpu');
    for (const p of prepared) {
      const cpu = tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(p.dy, p.dyShape), filter: tf.tensor(p.filter, p.c.filter) },
          {
            strides: p.c.strides,
            dilations: p.c.dilations,
            pad: p.c.pad,
            dimRoundingMode: p.c.dimRoundingMode,
            inputShape: p.c.x,
          },
        ),
      );
      expectClose(referenceDepthwiseInputGrad(p.dy, p.filter, p.c), cpu, describeCase(p.c));
      const cpuFilter = tf.tidy(() =>
        runChecked(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(p.x, p.c.x), dy: tf.tensor(p.dy, p.dyShape) },
          {
            strides: p.c.strides,
            dilations: p.c.dilations,
            pad: p.c.pad,
            dimRoundingMode: p.c.dimRoundingMode,
            filterShape: p.c.filter,
          },
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
          .map((t) => t.dataSync<'float32'>()),
      );
    const expected = await onBackend('cpu', grads);
    const before: number = await onBackend('wasm', () => tf.memory().numTensors);
    const actual = grads();
    expect(tf.memory().numTensors).toBe(before);
    ['x', 'w1', 'w2'].forEach((name, i) => expectClose(actual[i]!, expected[i]!, `d${name}`));
  });
});

describe('Conv2DBackpropInput on wasm (replaced)', () => {
  it('matches the cpu kernel on random and CNN-like shapes, without leaks', async () => {
    const pointwise: ConvCase[] = [
      {
        x: [4, 14, 14, 16],
        filter: [1, 1, 16, 32],
        strides: [1, 1],
        dilations: [1, 1],
        pad: 'same',
        dimRoundingMode: undefined,
      },
      {
        x: [3, 7, 5, 24],
        filter: [1, 1, 24, 8],
        strides: [1, 1],
        dilations: [1, 1],
        pad: 'valid',
        dimRoundingMode: undefined,
      },
      {
        x: [2, 9, 9, 6],
        filter: [1, 1, 6, 10],
        strides: [1, 1],
        dilations: [1, 1],
        pad: 1,
        dimRoundingMode: undefined,
      },
      {
        x: [2, 9, 8, 6],
        filter: [1, 1, 6, 10],
        strides: [2, 2],
        dilations: [1, 1],
        pad: 'same',
        dimRoundingMode: undefined,
      },
    ];
    const prepared = prepare([...pointwise, ...realisticConv, ...randomCases(100, false)], false);
    const run = (p: Prepared) =>
      tf.tidy(() =>
        runChecked(
          'Conv2DBackpropInput',
          { dy: tf.tensor(p.dy, p.dyShape), filter: tf.tensor(p.filter, p.c.filter) },
          {
            strides: p.c.strides,
            pad: p.c.pad,
            dataFormat: 'NHWC',
            dimRoundingMode: p.c.dimRoundingMode,
            inputShape: p.c.x,
          },
        ),
      );
    const expected = await onBackend('cpu', () => prepared.map(run));
    await tf.setBackend('wasm');
    prepared.forEach((p, i) => expectClose(run(p), expected[i]!, describeCase(p.c)));
  });

  it('hands NCHW to the wasm kernel', async () => {
    const dy = values(1 * 3 * 4 * 4);
    const filter = values(2 * 2 * 2 * 3);
    const run = () =>
      tf.tidy(() =>
        runChecked(
          'Conv2DBackpropInput',
          { dy: tf.tensor(dy, [1, 3, 4, 4]), filter: tf.tensor(filter, [2, 2, 2, 3]) },
          { strides: [1, 1], pad: 'valid', dataFormat: 'NCHW', inputShape: [1, 2, 5, 5] },
        ),
      );
    const expected = await onBackend('cpu', run);
    expectClose(await onBackend('wasm', run), expected, 'NCHW');
  });
});

describe('Tile on wasm (replaced)', () => {
  it('matches the cpu kernel for ranks 0-5, all numeric dtypes, without leaks', async () => {
    const cases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
      { shape: [1, 1, 1, 8], reps: [4, 6, 5, 1], dtype: 'float32' }, // the FusedBatchNorm gradient's pattern
      { shape: [], reps: [], dtype: 'float32' },
      { shape: [3], reps: [1], dtype: 'float32' },
      { shape: [2, 3], reps: [1, 40], dtype: 'float32' },
      { shape: [0, 3], reps: [2, 2], dtype: 'float32' },
    ];
    for (let i = 0; i < 60; i++) {
      const rank = int(1, 5);
      const shape = Array.from({ length: rank }, () => int(1, 4));
      const reps = Array.from({ length: rank }, () => (rng() < 0.4 ? 1 : int(1, 4)));
      cases.push({ shape, reps, dtype: pick(['float32', 'float32', 'int32', 'bool'] as const) });
    }
    const data = cases.map((c) =>
      Array.from(values(sizeOf(c.shape)), (v) =>
        c.dtype === 'float32' ? v : c.dtype === 'int32' ? Math.round(v * 100) : v > 0 ? 1 : 0,
      ),
    );
    const run = () =>
      cases.map((c, i) =>
        tf.tidy(() => runChecked('Tile', { x: tf.tensor(data[i]!, c.shape, c.dtype) }, { reps: c.reps })),
      );
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    cases.forEach((c, i) => {
      expect(actual[i]!.constructor, JSON.stringify(c)).toBe(expected[i]!.constructor);
      expect(Array.from(actual[i]!), JSON.stringify(c)).toEqual(Array.from(expected[i]!));
    });
  });

  it('tileInto handles long runs of tiny blocks and doubling past odd replica counts', () => {
    const src = Float32Array.from([1, 2, 3]);
    const dst = new Float32Array(3 * 7 * 5);
    tileInto(src, [3, 1], [7, 5], dst);
    const expected: number[] = [];
    for (let r = 0; r < 7; r++) for (const v of [1, 2, 3]) for (let k = 0; k < 5; k++) expected.push(v);
    expect(Array.from(dst)).toEqual(expected);
  });
});

describe('Sum and Mean on wasm (replaced for leading axes)', () => {
  it('match the cpu kernels for leading and other axes, keepDims, without leaks', async () => {
    const cases: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
      { shape: [8, 28, 28, 8], axis: [0, 1, 2], keepDims: false },
      { shape: [8, 7, 7, 67], axis: [0, 1, 2], keepDims: true },
      { shape: [5, 3], axis: [0], keepDims: false },
      { shape: [300, 1], axis: [0], keepDims: false },
    ];
    for (let i = 0; i < 60; i++) {
      const rank = int(1, 4);
      const shape = Array.from({ length: rank }, () => int(1, 9));
      const axis = [...Array(rank).keys()].filter(() => rng() < 0.5);
      // Leading prefixes are the replaced case; make them common, but keep the others (and negative axes) too.
      const leading = rng() < 0.6 ? [...Array(int(1, rank)).keys()] : axis.map((a) => (rng() < 0.3 ? a - rank : a));
      cases.push({ shape, axis: leading, keepDims: rng() < 0.3 });
    }
    const data = cases.map((c) => values(sizeOf(c.shape)));
    const run = (kernel: 'Sum' | 'Mean') => () =>
      cases.map((c, i) =>
        tf.tidy(() => runChecked(kernel, { x: tf.tensor(data[i]!, c.shape) }, { axis: c.axis, keepDims: c.keepDims })),
      );
    for (const kernel of ['Sum', 'Mean'] as const) {
      const expected = await onBackend('cpu', run(kernel));
      const actual = await onBackend('wasm', run(kernel));
      cases.forEach((c, i) => expectClose(actual[i]!, expected[i]!, `${kernel} ${JSON.stringify(c)}`));
    }
    // The output shape (keepDims) must match too, not just the values.
    const shapes = () =>
      cases.map((c, i) => tf.tidy(() => tf.sum(tf.tensor(data[i]!, c.shape), c.axis, c.keepDims).shape));
    expect(await onBackend('wasm', shapes)).toEqual(await onBackend('cpu', shapes));
  });

  it('sumRows covers column counts that are not multiples of four and more rows than one block', () => {
    for (const [rows, cols] of [
      [1, 1],
      [3, 5],
      [130, 7],
      [65, 4],
      [200, 13],
    ] as const) {
      const src = values(rows * cols);
      const out = new Float32Array(cols);
      sumRows(src, rows, cols, out, 0.5);
      const expected = new Float64Array(cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[c]! += src[r * cols + c]! * 0.5;
      expectClose(out, expected, `${rows}x${cols}`);
    }
  });
});

describe('GreaterEqual, LessEqual and LogicalAnd on wasm (replaced)', () => {
  it('match the cpu kernels for same shapes, scalar operands and (handed back) broadcasts, without leaks', async () => {
    type Case = { kernel: string; shapes: number[][]; dtypes: Array<'float32' | 'int32' | 'bool'> };
    const cases: Case[] = [];
    for (let i = 0; i < 80; i++) {
      const rank = int(0, 4);
      const shape = Array.from({ length: rank }, () => int(1, 7));
      const kind = pick(['same', 'scalar', 'scalar1', 'broadcast'] as const);
      const other =
        kind === 'same'
          ? shape
          : kind === 'scalar'
            ? []
            : kind === 'scalar1'
              ? shape.map(() => 1)
              : [...shape.slice(0, -1), 1];
      const kernel = pick(['GreaterEqual', 'LessEqual', 'LogicalAnd'] as const);
      const dtype = pick(['float32', 'int32'] as const);
      if (kernel === 'LogicalAnd') cases.push({ kernel, shapes: [shape, other], dtypes: ['bool', 'bool'] });
      else cases.push({ kernel, shapes: [shape, other], dtypes: [dtype, dtype] });
    }
    // Ties, NaN and the ReLU6 gradient's pattern (x >= 0, x <= 6 against scalars).
    cases.push({ kernel: 'GreaterEqual', shapes: [[4, 6, 6, 8], []], dtypes: ['float32', 'float32'] });
    cases.push({ kernel: 'LessEqual', shapes: [[4, 6, 6, 8], []], dtypes: ['float32', 'float32'] });
    const data = cases.map((c) =>
      c.shapes.map((shape, k) => {
        const v = Array.from(values(sizeOf(shape)), (x) => Math.round(x * 4));
        if (c.dtypes[k] === 'bool') return v.map((x) => (x > 0 ? 1 : 0));
        if (c.dtypes[k] === 'float32' && v.length > 3) v[1] = Number.NaN;
        return v;
      }),
    );
    const run = () =>
      cases.map((c, i) =>
        tf.tidy(() => {
          const [a, b] = c.shapes.map((shape, k) => tf.tensor(data[i]![k]!, shape, c.dtypes[k]));
          return runChecked(c.kernel, { a: a!, b: b! }, {});
        }),
      );
    const expected = await onBackend('cpu', run);
    const actual = await onBackend('wasm', run);
    cases.forEach((c, i) => {
      expect(Array.from(actual[i]!), JSON.stringify(c)).toEqual(Array.from(expected[i]!));
    });
  });
});

describe('Identity on wasm (replaced)', () => {
  it('shares the buffer with a reference count, so either tensor can be disposed first', async () => {
    await tf.setBackend('wasm');
    const buffersBefore = tf.engine().backend.numDataIds();
    const tensorsBefore = tf.memory().numTensors;
    const x = tf.tensor([1.5, -2, 3], [3]);
    const y = tf.clone(x);
    const z = tf.clone(y);
    expect(tf.engine().backend.numDataIds()).toBe(buffersBefore + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2, 3]);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([1.5, -2, 3]);
    z.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffersBefore);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

describe('gradients of the builtin architectures on wasm', () => {
  const architectures: Array<[string, Record<string, unknown>]> = [
    ['mlp', { hidden: [16] }],
    ['lenet5', {}],
    ['mobilenet-v1', { alpha: 0.25, depth: 0 }],
    ['mobilenet-v2', { alpha: 0.35, lastChannels: 32 }],
  ];

  /** Gradients of the mean cross-entropy for every trainable weight, BatchNormalization in training mode. */
  function modelGrads(
    weights: Float32Array[],
    name: string,
    options: Record<string, unknown>,
    xv: Float32Array,
    yv: Float32Array,
  ) {
    const model = buildArchitecture(tf, name, options, { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    // One set of weights for both backends, so the comparison does not rest on seeded initializers agreeing.
    model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights[i] ?? w.dataSync(), w.shape)));
    const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => {
      const pred = model.apply(tf.tensor4d(xv, [4, 28, 28, 1]), { training: true }) as tf.Tensor;
      return tf.mean<tf.Scalar>(tf.metrics.categoricalCrossentropy(tf.tensor2d(yv, [4, 10]), pred));
    }, trainable);
    const out = model.trainableWeights.map((w, i) => ({
      name: w.name,
      values: grads[trainable[i]!.name]!.dataSync() as Float32Array,
    }));
    const all = model.getWeights().map((w) => w.dataSync() as Float32Array);
    tf.dispose(grads);
    model.dispose();
    return { grads: out, weights: all };
  }

  it('match the cpu backend for every trainable weight of mlp, lenet5, mobilenet-v1 and mobilenet-v2', async () => {
    const ds = await loadMnist('train', 4);
    const yv = new Float32Array(4 * 10);
    for (let i = 0; i < 4; i++) yv[i * 10 + ds.y[i]!] = 1;
    for (const [name, options] of architectures) {
      const cpu = await onBackend('cpu', () => modelGrads([], name, options, ds.x, yv));
      const wasm = await onBackend('wasm', () => modelGrads(cpu.weights, name, options, ds.x, yv));
      // Weight names get a uniquifying suffix on the second build, so the weights are matched by position.
      expect(wasm.grads.map((g) => g.values.length)).toEqual(cpu.grads.map((g) => g.values.length));
      expect(cpu.grads.length).toBeGreaterThan(0);
      const maxAbs = (v: Float32Array) => v.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
      // Some gradients are zero in exact arithmetic (the beta of a BatchNormalization whose output reaches the loss
      // only through a linear conv and another training-mode BatchNormalization, which cancels constant shifts);
      // both backends then return float noise that cannot agree relatively, so the floor is relative to the model:
      // 5e-7 of its largest gradient, about four float32 ulps (the cpu backend's own noise there reaches one ulp).
      const floor = 5e-4 * Math.max(...cpu.grads.map((g) => maxAbs(g.values)));
      cpu.grads.forEach((g, i) => {
        const actual = wasm.grads[i]!.values;
        let maxErr = 0;
        for (let k = 0; k < g.values.length; k++) maxErr = Math.max(maxErr, Math.abs(actual[k]! - g.values[k]!));
        const maxRef = maxAbs(g.values);
        expect(Number.isFinite(maxErr), `${name} ${g.name}: non-finite gradient`).toBe(true);
        expect(
          maxErr,
          `${name} ${g.name}: max abs error ${maxErr} (max |ref| ${maxRef}, floor ${floor})`,
        ).toBeLessThanOrEqual(1e-3 * Math.max(maxRef, floor));
      });
    }
  });
});
