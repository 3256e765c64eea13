/**
 * Which layers lowrank decomposes: the named ones (each must exist and be decomposable) or every Dense and
 * Conv2D, less those an override skips and those a fixed rank does not fit. What it leaves alone is listed
 * with the reason; what the recipe asks for and cannot be done is an error pointing at the option.
 */
import { McbError } from '../../errors.js';
import { tupleOf, type StoredModel, type Topology, type WeightTable } from '../../model/index.js';
import { suggest } from '../../recipe/index.js';
import type { LowrankOptions } from './options.js';
import { factored, whyNotFactored } from './plan.js';
import { asText } from '../../util/text.js';

export interface SkippedLayer {
  layer: string;
  className: string;
  reason: string;
}

/** Where an option of a set of options was written: its data path and file:line:col, when known. */
export type WhereWritten = (option: string, of?: LowrankOptions) => { path: string; at: string } | undefined;

/**
 * The layers to decompose, in model order (or `layers` order), and the layers with a kernel left alone. With
 * `layers`, a name the model lacks or a layer lowrank cannot decompose is an error.
 */
export function selectLayers(
  topology: Topology,
  model: StoredModel,
  options: LowrankOptions,
  optionText: (option: string) => string,
): { candidates: string[]; skipped: SkippedLayer[]; explicit: boolean } {
  const all = topology.layers();
  const supported = all.filter((l) => factored(l.className)).map((l) => l.name);
  const skipped: SkippedLayer[] = [];
  const candidates: string[] = [];
  const explicit = options.layers !== undefined;
  if (explicit) {
    for (const name of options.layers!) {
      if (!topology.has(name)) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${JSON.stringify(name)}, which the model does not have${suggest(name, topology.names())}; the layers lowrank can decompose are ${listNames(supported)}.`,
        );
      }
      const cls = topology.className(name);
      const why = factored(cls)
        ? unsupportedConfig(topology, name)
        : (whyNotFactored(cls) ?? 'lowrank decomposes Dense and Conv2D layers only');
      if (why !== undefined) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${optionText('layers')} names layer ${name} (${cls}), which lowrank cannot decompose: ${why}. Remove it from \`layers\`; the layers lowrank can decompose are ${listNames(supported)}.`,
        );
      }
      if (!candidates.includes(name)) candidates.push(name);
    }
  } else {
    for (const l of all) {
      if (factored(l.className)) {
        const why = unsupportedConfig(topology, l.name);
        if (why === undefined) candidates.push(l.name);
        else skipped.push({ layer: l.name, className: l.className, reason: why });
      } else if (
        whyNotFactored(l.className) !== undefined ||
        model.weightSpecs.some((s) => /(^|\/)kernel$/.test(s.name) && s.name.split('/').at(-2) === l.name)
      ) {
        skipped.push({
          layer: l.name,
          className: l.className,
          reason: whyNotFactored(l.className) ?? 'lowrank decomposes Dense and Conv2D layers only',
        });
      }
    }
  }
  return { candidates, skipped, explicit };
}

/** A layer's kernel as a matrix: rows are every axis but the output channels' (Dense [in, out], Conv2D [kh·kw·cin, cout]). */
export function kernelMatrix(weights: WeightTable, name: string): [number, number] {
  const shape = weights.require(name, 'kernel').spec.shape;
  return [shape.slice(0, -1).reduce((a, b) => a * b, 1), shape.at(-1)!];
}

/**
 * The candidates a fixed rank fits: it must be below min(m, n) of each layer it is applied to. An error for
 * a named layer; for the layers taken implicitly, a skip (added to `skipped`), unless it fits none of them
 * (then the option is wrong, not the layers). Each set of options (the entry's, an override's) is checked
 * against the layers it applies to.
 */
export function fitFixedRanks(
  topology: Topology,
  weights: WeightTable,
  candidates: readonly string[],
  ruleOf: ReadonlyMap<string, LowrankOptions>,
  options: LowrankOptions,
  explicit: boolean,
  where: WhereWritten,
  skipped: SkippedLayer[],
): string[] {
  const matrixOf = (name: string) => kernelMatrix(weights, name);
  const minOf = (name: string) => Math.min(...matrixOf(name));
  const tooBig = new Set<string>();
  for (const [o, names] of groupByOptions(candidates, ruleOf)) {
    if (!('rank' in o)) continue;
    const r = o.rank;
    const big = names.filter((name) => r >= minOf(name));
    if (big.length && (explicit || big.length === names.length)) {
      // A named layer it does not fit, or (taken implicitly) the layer that takes the largest ranks.
      const name = explicit ? big[0]! : big.reduce((a, b) => (minOf(b) > minOf(a) ? b : a));
      const [m, n] = matrixOf(name);
      const max = Math.floor((m * n - 1) / (m + n));
      const p = where('rank', o);
      const own = o !== options;
      // A layer's own options carry the override's position, not its data path: name the block by where it is.
      const option = own
        ? `the override's \`rank: ${r}\`${p ? ` at ${p.at}` : ''}`
        : p
          ? `\`${p.path}\` (${r}, at ${p.at})`
          : `\`rank\` (${r})`;
      const which =
        explicit || names.length === 1
          ? `layer ${name}`
          : `any layer ${own || names.length < candidates.length ? 'it applies to' : 'of the model'}: the largest, layer ${name}`;
      const fix = explicit
        ? `lower \`rank\`, or remove ${name} from \`layers\``
        : own
          ? 'lower it'
          : 'lower `rank`, or name the layers to decompose with `layers`';
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${option} is not below min(m, n) of ${which} (${topology.className(name)}, kernel ${m}×${n}, min ${Math.min(m, n)}), which takes ranks 1..${Math.min(m, n) - 1}${max >= 1 ? ` (1..${max} make it smaller)` : ' (none makes it smaller)'}; ${fix}.`,
      );
    }
    for (const name of big) {
      const [m, n] = matrixOf(name);
      skipped.push({
        layer: name,
        className: topology.className(name),
        reason: `rank ${r} is not below min(${m}, ${n}) = ${Math.min(m, n)}`,
      });
      tooBig.add(name);
    }
  }
  return candidates.filter((name) => !tooBig.has(name));
}

/** Layers grouped by their options object, in first-seen order (the resolver shares one object per merged set). */
function groupByOptions(
  names: readonly string[],
  optionsOf: ReadonlyMap<string, LowrankOptions>,
): Map<LowrankOptions, string[]> {
  const groups = new Map<LowrankOptions, string[]>();
  for (const name of names) {
    const o = optionsOf.get(name)!;
    groups.set(o, [...(groups.get(o) ?? []), name]);
  }
  return groups;
}

/** Why a Dense / Conv2D layer's config keeps lowrank away from it, or undefined when it can be decomposed. */
function unsupportedConfig(topology: Topology, name: string): string | undefined {
  const c = topology.config(name);
  if (topology.className(name) === 'Conv2D') {
    if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last')
      return `it is ${asText(c.data_format)}; lowrank reads channels_last convolutions`;
    if (typeof c.groups === 'number' && c.groups !== 1) return `it is a grouped convolution (groups ${c.groups})`;
    tupleOf(c.kernel_size, 2, 'kernel_size', name);
  }
  return undefined;
}

function listNames(names: readonly string[]): string {
  if (names.length === 0) return 'none (the model has no Dense or Conv2D layer)';
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown} and ${names.length - 12} more` : shown;
}
