/**
 * A small graph model written exactly as tensorflowjs_converter writes one (format "graph-model", nodes in
 * proto-JSON with the attributes Grappler's remapper leaves on fused ops, Const nodes named by their manifest
 * entries, a signature), with seeded weights:
 *
 *   input [-1, 8, 8, 3] → _FusedConv2D 3×3 → 8 (BiasAdd, Relu6) → FusedDepthwiseConv2dNative 3×3 (BiasAdd, Relu6)
 *   → Conv2D 1×1 → 16 (filter read through an Identity) + BiasAdd [→ FusedBatchNormV3] → Relu → Mean over H, W
 *   → _FusedMatMul 16 → 10 (BiasAdd) → Softmax → Identity
 *
 * `batchNorm: true` leaves a FusedBatchNormV3 after the 1×1 conv, as freezing does when the conv has a bias
 * the remapper cannot fold into; `transposeB: true` stores the dense kernel [out, in] with transpose_b.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mcbuildLoader } from '../../../src/runtime/index.js';
import { modelToFiles, type StoredModel, type WeightSpec } from '../../../src/model/index.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const ints = (xs: number[]) => ({ list: { i: xs.map(String) } });
const T = { type: 'DT_FLOAT' };

export const P = 'StatefulPartitionedCall/model';
/** Node names, as overrides see the layers. */
export const NODES = {
  conv: `${P}/conv1_relu/Relu6`,
  depthwise: `${P}/dw_relu/Relu6`,
  pointwise: `${P}/pw/Conv2D`,
  batchNorm: `${P}/pw_bn/FusedBatchNormV3`,
  dense: `${P}/logits/BiasAdd`,
} as const;

export interface GraphOptions {
  batchNorm?: boolean;
  /** false: the 1×1 conv has no BiasAdd (with batchNorm, as Keras writes a conv with use_bias false). */
  pointwiseBias?: boolean;
  transposeB?: boolean;
  seed?: number;
}

function constNode(name: string, shape: number[], dtype = 'DT_FLOAT') {
  return {
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: dims(shape) } }, dtype: { type: dtype } },
  };
}

function fusedConvAttrs(extra: Record<string, unknown> = {}) {
  return {
    T,
    data_format: { s: b64('NHWC') },
    dilations: ints([1, 1, 1, 1]),
    explicit_paddings: { list: {} },
    fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } },
    num_args: { i: '1' },
    padding: { s: b64('SAME') },
    strides: ints([1, 1, 1, 1]),
    epsilon: { f: 0 },
    leakyrelu_alpha: { f: 0.2 },
    ...extra,
  };
}

/** The model in memory (weightsManifest as weightSpecs), ready for the passes, modelToFiles and TF.js. */
export function converterGraph(options: GraphOptions = {}): StoredModel {
  let state = (options.seed ?? 7) >>> 0;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const specs: WeightSpec[] = [];
  const chunks: Float32Array[] = [];
  const nodes: Record<string, unknown>[] = [];
  const weight = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, dtype: 'float32' });
    chunks.push(Float32Array.from({ length: n }, (_, i) => fill(i)));
    nodes.push(constNode(name, shape));
    return name;
  };
  const he = (fanIn: number) => () => (random() * 2 - 1) * Math.sqrt(6 / fanIn);
  const small = () => (random() * 2 - 1) * 0.1;
  const dense = options.transposeB ? [10, 16] : [16, 10];

  const convW = weight(`${P}/conv1/Conv2D_weights`, [3, 3, 3, 8], he(27));
  const convB = weight(`${P}/conv1/Conv2D_bn_offset`, [8], small);
  const dwW = weight(`${P}/dw/depthwise_weights`, [3, 3, 8, 1], he(9));
  const dwB = weight(`${P}/dw/depthwise_bn_offset`, [8], small);
  const pwW = weight(`${P}/pw/Conv2D/ReadVariableOp`, [1, 1, 8, 16], he(8));
  const withBias = options.pointwiseBias !== false;
  const pwB = withBias ? weight(`${P}/pw/BiasAdd/ReadVariableOp`, [16], small) : '';
  const bn = options.batchNorm
    ? [
        weight(`${P}/pw_bn/ReadVariableOp`, [16], () => 0.5 + random()),
        weight(`${P}/pw_bn/ReadVariableOp_1`, [16], small),
        weight(`${P}/pw_bn/FusedBatchNormV3/ReadVariableOp`, [16], small),
        weight(`${P}/pw_bn/FusedBatchNormV3/ReadVariableOp_1`, [16], () => 0.5 + random()),
      ]
    : [];
  const meanAxes = `${P}/pool/Mean/reduction_indices`;
  specs.push({ name: meanAxes, shape: [2], dtype: 'int32' });
  nodes.push(constNode(meanAxes, [2], 'DT_INT32'));
  const denseW = weight(`${P}/logits/MatMul/ReadVariableOp`, dense, he(16));
  const denseB = weight(`${P}/logits/BiasAdd/ReadVariableOp`, [10], small);

  const convOut = withBias ? `${P}/pw/BiasAdd` : NODES.pointwise;
  const pwOut = options.batchNorm ? NODES.batchNorm : convOut;
  nodes.push(
    {
      name: 'input',
      op: 'Placeholder',
      attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 8, 8, 3]) } },
    },
    {
      name: NODES.conv,
      op: '_FusedConv2D',
      input: ['input', convW, convB],
      device: '/device:CPU:0',
      attr: fusedConvAttrs({ use_cudnn_on_gpu: { b: true } }),
    },
    {
      name: NODES.depthwise,
      op: 'FusedDepthwiseConv2dNative',
      input: [NODES.conv, dwW, dwB],
      attr: fusedConvAttrs(),
    },
    { name: `${P}/pw/Conv2D/Identity`, op: 'Identity', input: [pwW], attr: { T } },
    {
      name: NODES.pointwise,
      op: 'Conv2D',
      input: [NODES.depthwise, `${P}/pw/Conv2D/Identity`],
      attr: {
        T,
        data_format: { s: b64('NHWC') },
        dilations: ints([1, 1, 1, 1]),
        explicit_paddings: { list: {} },
        padding: { s: b64('VALID') },
        strides: ints([1, 1, 1, 1]),
        use_cudnn_on_gpu: { b: true },
      },
    },
    ...(withBias
      ? [
          {
            name: `${P}/pw/BiasAdd`,
            op: 'BiasAdd',
            input: [NODES.pointwise, pwB],
            attr: { T, data_format: { s: b64('NHWC') } },
          },
        ]
      : []),
    ...(options.batchNorm
      ? [
          {
            name: NODES.batchNorm,
            op: 'FusedBatchNormV3',
            input: [convOut, ...bn],
            attr: {
              T,
              U: T,
              data_format: { s: b64('NHWC') },
              epsilon: { f: 0.001 },
              exponential_avg_factor: { f: 1 },
              is_training: { b: false },
            },
          },
        ]
      : []),
    { name: `${P}/pw_relu/Relu`, op: 'Relu', input: [pwOut], attr: { T } },
    {
      name: `${P}/pool/Mean`,
      op: 'Mean',
      input: [`${P}/pw_relu/Relu`, meanAxes],
      attr: { T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } },
    },
    {
      name: NODES.dense,
      op: '_FusedMatMul',
      input: [`${P}/pool/Mean`, denseW, denseB],
      device: '/device:CPU:0',
      attr: {
        T,
        transpose_a: { b: false },
        transpose_b: { b: options.transposeB === true },
        fused_ops: { list: { s: [b64('BiasAdd')] } },
        num_args: { i: '1' },
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
      },
    },
    { name: `${P}/probs/Softmax`, op: 'Softmax', input: [NODES.dense], attr: { T } },
    { name: 'Identity', op: 'Identity', input: [`${P}/probs/Softmax`], attr: { T } },
  );
  const bytes: Uint8Array[] = chunks.map((c) => new Uint8Array(c.buffer));
  // The int32 reduction axes, at their place in the manifest order.
  const at = specs.findIndex((s) => s.name === meanAxes);
  bytes.splice(at, 0, new Uint8Array(Int32Array.from([1, 2]).buffer));
  const total = bytes.reduce((n, b) => n + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const b of bytes) {
    weightData.set(b, off);
    off += b.byteLength;
  }
  return {
    json: {
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      signature: {
        inputs: { input: { name: 'input:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 8, 8, 3]) } },
        outputs: { output_0: { name: 'Identity:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 10]) } },
      },
      modelTopology: { node: nodes, library: {}, versions: { producer: 1645 } },
    },
    weightSpecs: specs,
    weightData,
  };
}

/** Deterministic inputs [n, 8, 8, 3] in [0, 1). */
export function graphInput(n: number): Float32Array {
  return Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
}

/** fetch over files in memory, for mcbuildLoader and tf.loadGraphModel(url). */
export function memoryFetch(files: ReadonlyMap<string, Uint8Array>): typeof fetch {
  return async (input: string | URL | Request) => {
    const name = new URL(input instanceof Request ? input.url : input).pathname.split('/').at(-1)!;
    const body = files.get(name);
    return body ? new Response(body.slice()) : new Response(null, { status: 404 });
  };
}

/** A float32 .npy file of `values` with `shape` (format 1.0, C order), as NumPy writes it. */
export function npyBytes(values: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in a newline.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}

/** Writes the model's files (model.json and shards) into `dir`. */
export function writeModel(dir: string, model: StoredModel): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of modelToFiles(model)) writeFileSync(join(dir, name), bytes);
  return join(dir, 'model.json');
}

/** The model's predictions on 6 fixed inputs, loaded by stock tf.loadGraphModel, or through mcbuild/runtime. */
export async function predictGraph(model: StoredModel, via: 'stock' | 'runtime' = 'stock'): Promise<Float32Array> {
  const files = modelToFiles(model);
  const g =
    via === 'stock'
      ? await tf.loadGraphModel('http://h/m/model.json', { fetchFunc: memoryFetch(files) })
      : await tf.loadGraphModel(mcbuildLoader('http://h/m/model.json', { fetch: memoryFetch(files) }));
  const x = tf.tensor4d(graphInput(6), [6, 8, 8, 3]);
  const y = g.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  g.dispose();
  return out;
}
