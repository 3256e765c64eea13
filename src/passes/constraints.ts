/**
 * Invariants a training pass must keep so it does not undo an earlier pass: weights pruned to zero stay
 * zero (Zhu & Gupta; Deep Compression's retraining), and clustered kernels keep sharing their few values
 * (Deep Compression's weight sharing; TF-MOT's clustering). Each constraint looks at the model as it
 * arrives, decides whether it applies, and re-imposes itself after every optimizer step through the
 * training loop's afterBatch hook.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tf } from '../engine/runtime.js';
import { compressedWeight, weightKey, type WeightPass } from '../model/index.js';

export interface Constraint {
  /** What is kept, for the pass's stats: e.g. "sparsity of 3 kernels". */
  describe: string;
  afterBatch(model: TF.LayersModel): void;
  dispose(): void;
}

/** Kernel weights `pass` acts on (the catalogue's: the kernels of Dense, Conv2D and DepthwiseConv2D layers). */
export function compressibleKernels(model: TF.LayersModel, pass: WeightPass = 'prune'): TF.LayerVariable[] {
  const out: TF.LayerVariable[] = [];
  for (const layer of model.layers) {
    const kernel = compressedWeight(layer.getClassName(), pass);
    if (!kernel) continue;
    for (const w of layer.trainableWeights) if (weightKey(w.originalName) === kernel.key) out.push(w);
  }
  return out;
}

/** Keeps the zeros of pruned kernels at zero (a pruned model stays pruned while it trains). */
export function sparsityConstraint(
  tf: Tf,
  model: TF.LayersModel,
  prunedWeights: ReadonlySet<string>,
): Constraint | undefined {
  const masked: { variable: TF.LayerVariable; mask: TF.Tensor }[] = [];
  for (const variable of compressibleKernels(model, 'prune')) {
    if (!prunedWeights.has(variable.originalName)) continue;
    const mask = tf.tidy(() => tf.notEqual(variable.read(), 0).cast('float32'));
    const zeros = mask.size - (tf.tidy(() => mask.sum().dataSync()[0]) ?? 0);
    if (zeros > 0) masked.push({ variable, mask });
    else mask.dispose();
  }
  if (masked.length === 0) return undefined;
  return {
    describe: `sparsity of ${masked.length} kernel${masked.length === 1 ? '' : 's'}`,
    afterBatch: () => {
      for (const { variable, mask } of masked) {
        tf.tidy(() => {
          variable.write(tf.mul(variable.read(), mask));
        });
      }
    },
    dispose: () => masked.forEach((m) => m.mask.dispose()),
  };
}

/** A kernel with at most this many distinct non-zero values is taken as clustered (K ≤ 256, bits ≤ 8)… */
export const CLUSTER_MAX_DISTINCT = 256;
/** …when it also has at least this many non-zero weights per distinct value (a trained kernel has ~1). */
export const CLUSTER_MIN_SHARING = 8;

/** The fixed cluster assignment of a clustered kernel, as the per-step update needs it (pure JS). */
export interface SharedValues {
  /** Distinct non-zero values, ascending; cluster j is the weights equal to values[j]. */
  values: Float32Array;
  /** Per weight (flat), its cluster; zeros get `values.length`, a slot that always reads 0. */
  ids: Int32Array;
  /** Flat indices of the non-zero weights ordered by cluster, and their clusters (non-decreasing). */
  order: Int32Array;
  orderIds: Int32Array;
}

/**
 * The shared-value structure of a kernel, or undefined when it does not look clustered (more than
 * `maxDistinct` distinct non-zero values, or fewer than `minSharing` non-zero weights per distinct value).
 */
export function sharedValues(
  kernel: Float32Array,
  maxDistinct = CLUSTER_MAX_DISTINCT,
  minSharing = CLUSTER_MIN_SHARING,
): SharedValues | undefined {
  const seen = new Set<number>();
  let nonZero = 0;
  for (const x of kernel) {
    if (x === 0) continue;
    nonZero++;
    if (!seen.has(x)) {
      if (seen.size === maxDistinct) return undefined;
      seen.add(x);
    }
  }
  if (seen.size === 0 || nonZero < minSharing * seen.size) return undefined;
  const values = Float32Array.from(seen).sort();
  const index = new Map<number, number>();
  values.forEach((v, j) => index.set(v, j));
  const m = values.length;
  const ids = new Int32Array(kernel.length);
  const counts = new Int32Array(m + 1);
  for (let i = 0; i < kernel.length; i++) {
    const x = kernel[i]!;
    const id = x === 0 ? m : index.get(x)!;
    ids[i] = id;
    counts[id]!++;
  }
  // counting sort of the non-zero weights by cluster
  const next = new Int32Array(m);
  for (let j = 1; j < m; j++) next[j] = next[j - 1]! + counts[j - 1]!;
  const order = new Int32Array(nonZero);
  const orderIds = new Int32Array(nonZero);
  for (let i = 0; i < kernel.length; i++) {
    const id = ids[i]!;
    if (id === m) continue;
    const at = next[id]!++;
    order[at] = i;
    orderIds[at] = id;
  }
  return { values, ids, order, orderIds };
}

/**
 * Keeps clustered kernels clustered: a kernel that arrives with few distinct values (see sharedValues)
 * keeps its assignment of weights to clusters, and only the shared values (centroids) train. After every
 * optimizer step each weight is replaced by the mean of its cluster's updated values; zeros stay zero.
 *
 * Deep Compression and TF-MOT train a centroid with the gradient of the shared weight, the sum of its
 * members' gradients. For plain SGD, averaging the members after the step gives the centroid the step
 * c − lr·mean(g): the same direction, with the learning rate divided by the cluster's size (a more
 * conservative update of large clusters, no new hyper-parameter). For momentum and Adam it is an
 * approximation: their state stays per weight (Adam normalises each weight's step by its own second
 * moment), so the centroid moves by the mean of its members' optimizer steps, not by one optimizer step on
 * the summed gradient. Either way, after every step the kernel holds exactly its clusters' values.
 *
 * The per-step update runs as TF.js ops: sparseSegmentMean over the weights ordered by cluster (the wasm
 * backend has no UnsortedSegmentSum kernel; sparseSegmentMean exists on wasm, cpu and tensorflow), a 0
 * appended for the zero slot, and a gather back to the kernel's shape. The index tensors are held for the
 * run and released by dispose().
 */
export function clusterConstraint(
  tf: Tf,
  model: TF.LayersModel,
  clusteredWeights: ReadonlySet<string>,
): Constraint | undefined {
  const shared: {
    variable: TF.LayerVariable;
    ids: TF.Tensor1D;
    order: TF.Tensor1D;
    orderIds: TF.Tensor1D;
    zero: TF.Tensor1D;
  }[] = [];
  let maxClusters = 0;
  for (const variable of compressibleKernels(model, 'cluster')) {
    // Only kernels the cluster pass recorded: a uint8-quantized kernel also has few distinct values, but
    // finetuning it should move its weights freely.
    if (!clusteredWeights.has(variable.originalName)) continue;
    const kernel = variable.read().dataSync();
    if (!(kernel instanceof Float32Array)) continue;
    const s = sharedValues(kernel, Number.POSITIVE_INFINITY, 1);
    if (!s) continue;
    maxClusters = Math.max(maxClusters, s.values.length);
    shared.push({
      variable,
      ids: tf.tensor1d(s.ids, 'int32'),
      order: tf.tensor1d(s.order, 'int32'),
      orderIds: tf.tensor1d(s.orderIds, 'int32'),
      zero: tf.zeros([1]),
    });
  }
  if (shared.length === 0) return undefined;
  return {
    describe: `shared values of ${shared.length} clustered kernel${shared.length === 1 ? '' : 's'} (at most ${maxClusters} per kernel)`,
    afterBatch: () => {
      for (const { variable, ids, order, orderIds, zero } of shared) {
        tf.tidy(() => {
          const w = variable.read();
          const centroids = tf.sparse.sparseSegmentMean(w.reshape([-1]), order, orderIds) as TF.Tensor1D;
          variable.write(tf.gather(tf.concat([centroids, zero]), ids).reshape(w.shape));
        });
      }
    },
    dispose: () =>
      shared.forEach((s) => {
        s.ids.dispose();
        s.order.dispose();
        s.orderIds.dispose();
        s.zero.dispose();
      }),
  };
}

/**
 * Which weights earlier passes pruned or clustered, recorded in the model's own metadata
 * (`userDefinedMetadata.mcbuild`), so the fact travels with the model through the cache, into later passes
 * and into the exported model.json. Constraints apply only to recorded weights: a uint8-quantized kernel also
 * has exact zeros and few distinct values, but finetuning it must move its weights freely.
 */
export type RecordedKind = 'prunedWeights' | 'clusteredWeights';

export function recordedWeights(json: Record<string, unknown>, kind: RecordedKind): string[] {
  const meta = json.userDefinedMetadata as { mcbuild?: Record<string, unknown> } | undefined;
  const list = meta?.mcbuild?.[kind];
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

export function withRecordedWeights(
  json: Record<string, unknown>,
  kind: RecordedKind,
  names: readonly string[],
): Record<string, unknown> {
  const meta = (json.userDefinedMetadata ?? {}) as Record<string, unknown>;
  const mcb = (meta.mcbuild ?? {}) as Record<string, unknown>;
  const all = [...new Set([...recordedWeights(json, kind), ...names])].sort();
  return { ...json, userDefinedMetadata: { ...meta, mcbuild: { ...mcb, [kind]: all } } };
}

/** Every constraint that applies to this model, composed; the passes that train call this once. */
export function modelConstraints(tf: Tf, model: TF.LayersModel, json: Record<string, unknown> = {}): Constraint[] {
  return [
    sparsityConstraint(tf, model, new Set(recordedWeights(json, 'prunedWeights'))),
    clusterConstraint(tf, model, new Set(recordedWeights(json, 'clusteredWeights'))),
  ].filter((c): c is Constraint => c !== undefined);
}

/** Layers an override skips, frozen for a training run (finetune, gradual prune). */
export interface Frozen {
  /** Names of the frozen layers (those with weights that an override skips). */
  layers: string[];
  /** Puts back their weights and `trainable` flags, so the model saved is as if they had not been touched. */
  restore(): void;
  dispose(): void;
}

/**
 * Freezes (trainable = false) every layer with weights that an override skips. That keeps the optimizer off
 * them, but TF.js still moves a BatchNormalization's moving statistics in training mode (and the training
 * loop re-estimates them afterwards), so their weights are also saved here and written back by restore():
 * the skipped layers come out bit-identical. Their `trainable` flags are reset too, or model.json would
 * carry them and a later training pass without overrides would not train them.
 */
export function freezeSkipped(model: TF.LayersModel, layerOptions: (layer: string) => unknown): Frozen {
  const saved = model.layers
    .filter((l) => l.weights.length > 0 && layerOptions(l.name) === null)
    .map((layer) => ({ layer, trainable: layer.trainable, weights: layer.getWeights().map((w) => w.clone()) }));
  for (const s of saved) s.layer.trainable = false;
  const thaw = () => saved.forEach((s) => (s.layer.trainable = s.trainable));
  return {
    layers: saved.map((s) => s.layer.name),
    restore: () => {
      thaw();
      saved.forEach((s) => s.layer.setWeights(s.weights));
    },
    dispose: () => {
      thaw();
      saved.forEach((s) => s.weights.forEach((w) => w.dispose()));
    },
  };
}
