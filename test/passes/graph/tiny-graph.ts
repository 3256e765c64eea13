/**
 * The smallest converter-style graphs:
 *  - tinyGraph: the only conv feeds an op prune-channels cannot follow: input [-1, 4, 4, 3] → _FusedConv2D 1×1 → 4
 *    (BiasAdd, Relu) `conv/Relu` → `join` (ConcatV2 of it with itself on the channels, or Reshape to [-1, 64]) →
 *    Identity;
 *  - tinyHeadGraph: the same conv, then a classifier head as the converter writes Keras' or tf's: a Mean over H, W
 *    with keep_dims (or an AvgPool 4×4 with the `_output_shapes` [-1, 1, 1, 4] recorded) → `head` (Squeeze with
 *    squeeze_dims [1, 2] or none, or Reshape to a shape constant [-1, 4] in the manifest or inline in its Const
 *    node) → _FusedMatMul 4 → 2 (BiasAdd) `dense/BiasAdd` → Identity.
 */
import type { StoredModel, WeightSpec } from '../../../src/model/index.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const T = { type: 'DT_FLOAT' };

const constNode = (name: string, shape: number[], dtype = 'DT_FLOAT') => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
});

export function tinyGraph(join: 'ConcatV2' | 'Reshape'): StoredModel {
  const kernel = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  const bias = Float32Array.from({ length: 4 }, (_, i) => 0.1 * i);
  const extra = join === 'ConcatV2' ? Int32Array.from([-1]) : Int32Array.from([-1, 64]);
  const extraName = join === 'ConcatV2' ? 'join/axis' : 'join/shape';
  const specs: WeightSpec[] = [
    { name: 'conv/Conv2D_weights', shape: [1, 1, 3, 4], dtype: 'float32' },
    { name: 'conv/Conv2D_bn_offset', shape: [4], dtype: 'float32' },
    { name: extraName, shape: join === 'ConcatV2' ? [] : [2], dtype: 'int32' },
  ];
  const bytes = [kernel, bias, extra].map((a) => new Uint8Array(a.buffer));
  const weightData = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  bytes.reduce((off, b) => (weightData.set(b, off), off + b.byteLength), 0);
  const nodes = [
    constNode('conv/Conv2D_weights', [1, 1, 3, 4]),
    constNode('conv/Conv2D_bn_offset', [4]),
    constNode(extraName, join === 'ConcatV2' ? [] : [2], 'DT_INT32'),
    { name: 'input', op: 'Placeholder', attr: { dtype: T, shape: { shape: dims([-1, 4, 4, 3]) } } },
    {
      name: 'conv/Relu',
      op: '_FusedConv2D',
      input: ['input', 'conv/Conv2D_weights', 'conv/Conv2D_bn_offset'],
      device: '/device:CPU:0',
      attr: {
        T,
        data_format: { s: b64('NHWC') },
        dilations: { list: { i: ['1', '1', '1', '1'] } },
        explicit_paddings: { list: {} },
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
        num_args: { i: '1' },
        padding: { s: b64('VALID') },
        strides: { list: { i: ['1', '1', '1', '1'] } },
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
        use_cudnn_on_gpu: { b: true },
      },
    },
    join === 'ConcatV2'
      ? {
          name: 'join',
          op: 'ConcatV2',
          input: ['conv/Relu', 'conv/Relu', extraName],
          attr: { T, N: { i: '2' }, Tidx: { type: 'DT_INT32' } },
        }
      : { name: 'join', op: 'Reshape', input: ['conv/Relu', extraName], attr: { T, Tshape: { type: 'DT_INT32' } } },
    { name: 'Identity', op: 'Identity', input: ['join'], attr: { T } },
  ];
  const width = join === 'ConcatV2' ? [-1, 4, 4, 8] : [-1, 64];
  return {
    json: {
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      signature: {
        inputs: { input: { name: 'input:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 4, 4, 3]) } },
        outputs: { output_0: { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: dims(width) } },
      },
      modelTopology: { node: nodes, library: {}, versions: { producer: 1645 } },
    },
    weightSpecs: specs,
    weightData,
  };
}

export type Head = 'mean-squeeze' | 'mean-squeeze-all' | 'mean-reshape' | 'mean-reshape-inline' | 'pool-reshape';

/** Seeded float32 values. */
const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(k * (i + 1)));

export function tinyHeadGraph(head: Head): StoredModel {
  const reshape = head.includes('reshape');
  const inline = head === 'mean-reshape-inline';
  const tensors: [string, number[], Float32Array | Int32Array][] = [
    ['conv/Conv2D_weights', [1, 1, 3, 4], wave(12, 1)],
    ['conv/Conv2D_bn_offset', [4], wave(4, 2)],
    ...(head.startsWith('mean') ? [['head/axes', [2], Int32Array.from([1, 2])] as [string, number[], Int32Array]] : []),
    ...(reshape && !inline ? [['head/shape', [2], Int32Array.from([-1, 4])] as [string, number[], Int32Array]] : []),
    ['dense/MatMul/ReadVariableOp', [4, 2], wave(8, 3)],
    ['dense/BiasAdd/ReadVariableOp', [2], wave(2, 4)],
  ];
  const specs: WeightSpec[] = tensors.map(([name, shape, v]) => ({
    name,
    shape,
    dtype: v instanceof Int32Array ? 'int32' : 'float32',
  }));
  const bytes = tensors.map(([, , v]) => new Uint8Array(v.buffer));
  const weightData = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  bytes.reduce((off, b) => (weightData.set(b, off), off + b.byteLength), 0);
  const consts = tensors.map(([name, shape, v]) =>
    constNode(name, shape, v instanceof Int32Array ? 'DT_INT32' : 'DT_FLOAT'),
  );
  if (inline)
    consts.push({
      name: 'head/shape',
      op: 'Const',
      attr: {
        value: { tensor: { dtype: 'DT_INT32', tensorShape: dims([2]), intVal: [-1, 4] } },
        dtype: { type: 'DT_INT32' },
      },
    } as ReturnType<typeof constNode>);
  const ints = (xs: number[]) => ({ list: { i: xs.map(String) } });
  const pool = head.startsWith('mean')
    ? {
        name: 'pool',
        op: 'Mean',
        input: ['conv/Relu', 'head/axes'],
        attr: { T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: true } },
      }
    : {
        name: 'pool',
        op: 'AvgPool',
        input: ['conv/Relu'],
        attr: {
          T,
          data_format: { s: b64('NHWC') },
          ksize: ints([1, 4, 4, 1]),
          strides: ints([1, 1, 1, 1]),
          padding: { s: b64('VALID') },
          _output_shapes: { list: { shape: [dims([-1, 1, 1, 4])] } },
        },
      };
  const squeezeDims = head === 'mean-squeeze' ? { squeeze_dims: ints([1, 2]) } : {};
  const flat = reshape
    ? { name: 'head', op: 'Reshape', input: ['pool', 'head/shape'], attr: { T, Tshape: { type: 'DT_INT32' } } }
    : { name: 'head', op: 'Squeeze', input: ['pool'], attr: { T, ...squeezeDims } };
  const nodes = [
    ...consts,
    { name: 'input', op: 'Placeholder', attr: { dtype: T, shape: { shape: dims([-1, 4, 4, 3]) } } },
    {
      name: 'conv/Relu',
      op: '_FusedConv2D',
      input: ['input', 'conv/Conv2D_weights', 'conv/Conv2D_bn_offset'],
      attr: {
        T,
        data_format: { s: b64('NHWC') },
        dilations: ints([1, 1, 1, 1]),
        explicit_paddings: { list: {} },
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
        num_args: { i: '1' },
        padding: { s: b64('VALID') },
        strides: ints([1, 1, 1, 1]),
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
      },
    },
    pool,
    flat,
    {
      name: 'dense/BiasAdd',
      op: '_FusedMatMul',
      input: ['head', 'dense/MatMul/ReadVariableOp', 'dense/BiasAdd/ReadVariableOp'],
      attr: {
        T,
        transpose_a: { b: false },
        transpose_b: { b: false },
        fused_ops: { list: { s: [b64('BiasAdd')] } },
        num_args: { i: '1' },
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
        _input_shapes: { list: { shape: [dims([-1, 4]), dims([4, 2]), dims([2])] } },
      },
    },
    { name: 'Identity', op: 'Identity', input: ['dense/BiasAdd'], attr: { T } },
  ];
  return {
    json: {
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      signature: {
        inputs: { input: { name: 'input:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 4, 4, 3]) } },
        outputs: { output_0: { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 2]) } },
      },
      modelTopology: { node: nodes, library: {}, versions: { producer: 1645 } },
    },
    weightSpecs: specs,
    weightData,
  };
}
