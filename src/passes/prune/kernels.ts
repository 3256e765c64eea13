/** The kernels a prune entry touches, each with its plan: N:M, or a sparsity alone or in the global pool. */
import { McbError } from '../../errors.js';
import { weightKey, weightLayer, type WeightRole } from '../../model/index.js';
import { formatDataPath } from '../../recipe/index.js';
import type { LayerOptions, PassContext } from '../define.js';
import { parsePattern, patternAt, type PruneOptions } from './options.js';

export interface KernelRef {
  /** The weight: "fc_1/kernel". */
  name: string;
  layer: string;
  shape: readonly number[];
  depthwise: boolean;
  /** The input channels are the last axis (a graph's transposed MatMul operand [out, in]), not the one before. */
  inputLast?: boolean;
}

export interface Kernel extends KernelRef {
  /** The values to edit in place; result() writes them. */
  values: Float32Array;
}

/**
 * Weight `name` as a kernel to prune when it is `role`, the weight the catalogue lets prune compress in its
 * layer's class (a Dense's or Conv2D's kernel, a DepthwiseConv2D's depthwise_kernel); else undefined.
 */
export function kernelRef(name: string, shape: readonly number[], role: WeightRole | undefined): KernelRef | undefined {
  const layer = weightLayer(name);
  if (!layer || role?.key !== weightKey(name)) return undefined;
  // N:M groups run along a kernel's input channels; a depthwise kernel's input channels are its output
  // channels (one filter each), so it has no such reduction.
  return { name, layer, shape, depthwise: role.inputAxis === role.outputAxis };
}

/**
 * How one kernel is pruned: N:M, or to a sparsity, alone or in the global pool (scope global, no override).
 * `overridden`: an override block gave the layer these options.
 */
export type KernelPlan =
  | { kind: 'pattern'; pattern: string; n: number; m: number; overridden: boolean; at?: string }
  | { kind: 'sparsity'; sparsity: number; pooled: boolean; overridden: boolean };

/**
 * Each kernel with its layer's plan. Kernels of skipped layers are left out (their layers go to
 * `skippedLayers`), and so are depthwise kernels given a pattern (they reduce over the spatial window only):
 * their names are `left`.
 */
export function planKernels<K extends KernelRef>(
  kernels: readonly K[],
  options: PruneOptions,
  optionsFor: LayerOptions<PruneOptions>,
  skippedLayers: Set<string>,
): { kernels: (K & { plan: KernelPlan })[]; left: string[] } {
  const out: (K & { plan: KernelPlan })[] = [];
  const left: string[] = [];
  for (const k of kernels) {
    const o = optionsFor(k.layer);
    if (o === null) {
      skippedLayers.add(k.layer);
      continue;
    }
    // The resolver hands out the entry's own options object for a layer no block touched.
    const overridden = o !== options;
    if (o.pattern !== undefined) {
      if (k.depthwise) {
        left.push(k.name);
        continue;
      }
      const at = patternAt.get(o);
      out.push({
        ...k,
        plan: {
          kind: 'pattern',
          pattern: o.pattern,
          ...parsePattern(o.pattern),
          overridden,
          ...(at === undefined ? {} : { at }),
        },
      });
    } else {
      out.push({
        ...k,
        plan: { kind: 'sparsity', sparsity: o.sparsity!, pooled: o.scope === 'global' && !overridden, overridden },
      });
    }
  }
  return { kernels: out, left };
}

/** The shape pruneNM reads the kernel as ([..., in, out]): a kernel [out, in] is [out, in, 1] to it. */
export function nmShape(k: KernelRef): readonly number[] {
  return k.inputLast ? [...k.shape, 1] : k.shape;
}

/** Throws when the pattern's M does not divide the kernel's input dimension, naming the option that set it. */
export function checkPattern(k: KernelRef, p: Extract<KernelPlan, { kind: 'pattern' }>, ctx: PassContext): void {
  const dim = k.shape[k.shape.length - (k.inputLast ? 1 : 2)]!;
  if (dim % p.m === 0) return;
  const where =
    !p.overridden && ctx.place
      ? `\`${formatDataPath(ctx.place.path)}.pattern\` (at ${ctx.place.at('pattern')})`
      : p.overridden
        ? `the override's prune pattern${p.at ? ` (at ${p.at})` : ''}`
        : 'the prune pattern';
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `${where} "${p.pattern}" does not fit layer ${k.layer}: its kernel ${k.name} has shape [${k.shape.join(', ')}] and its input dimension ${dim} is not a multiple of ${p.m}. Choose an M that divides every pruned layer's input dimension, or use \`sparsity\`.`,
  );
}

/** Throws when a kernel to prune holds NaN: its magnitudes cannot be ranked. */
export function checkFinite(k: Kernel): void {
  const bits = new Uint32Array(k.values.buffer, k.values.byteOffset, k.values.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & 0x7fffffff) > 0x7f800000) {
      throw new McbError(
        'MCB_MODEL_INVALID',
        `the weight ${k.name} holds NaN values, so its magnitudes cannot be ranked; fix the model before pruning.`,
      );
    }
  }
}

export function total(kernels: readonly Kernel[]): number {
  return kernels.reduce((n, k) => n + k.values.length, 0);
}
