/**
 * BatchNormalization → ReLU(maxValue) pairs of a layers model computed as one pass at inference on wasm, as the
 * converter's graph models have them fused into their convolutions. Both are memory-bound passes over every
 * activation (a 224×224 MobileNetV2 layers model spent 14% of its evaluation at 2 threads in its ReLU6s alone),
 * so one pass instead of two is what is left to gain there.
 *
 * `markBatchNormReluMax` marks the pairs of a loaded model; the layers' patched calls (./batchnorm-layer.ts,
 * ./relu6-layer.ts) do the rest. A marked batch norm, at inference on wasm, clamps its output in the same kernel
 * (McbBatchNormReluMax) and records the tensor; the ReLU given exactly that tensor passes it on. Anything else
 * (training, another backend, an input the kernel does not cover) takes the usual two calls. Same bits either
 * way: test/engine/fuse-inference.test.ts.
 */

/** On a BatchNormalization layer: the maxValue of the ReLU that alone reads its output. */
export const RELU_MAX_AFTER = Symbol.for('mcbuild.reluMaxAfter');

/** Tensors a fused batch norm has already clamped, with the bound. */
export const clamped = new WeakMap<object, number>();

interface Node {
  inboundLayers: Layer[];
  outboundLayer: Layer;
}

interface Layer {
  getClassName(): string;
  inboundNodes: Node[];
  outboundNodes: Node[];
  maxValue?: number | null;
  layers?: Layer[];
  outputLayers?: Layer[];
  [RELU_MAX_AFTER]?: number;
}

/** Marks the pairs (see the top) in `model` and the models nested in it; returns how many it marked. */
export function markBatchNormReluMax(model: object): number {
  const container = model as Layer;
  let marked = 0;
  const outputs = new Set(container.outputLayers ?? []);
  for (const layer of container.layers ?? []) {
    if (layer.layers) {
      marked += markBatchNormReluMax(layer);
      continue;
    }
    if (layer.getClassName() !== 'BatchNormalization' || outputs.has(layer)) continue;
    if (layer.inboundNodes.length !== 1 || layer.outboundNodes.length !== 1) continue;
    const next = layer.outboundNodes[0]!.outboundLayer;
    const max = next.maxValue;
    if (next.getClassName() !== 'ReLU' || max == null || !(max > 0)) continue;
    if (next.inboundNodes.length !== 1 || next.inboundNodes[0]!.inboundLayers.length !== 1) continue;
    layer[RELU_MAX_AFTER] = max;
    marked++;
  }
  return marked;
}
