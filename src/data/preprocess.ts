/**
 * The image settings of a `preprocess` block applied to one sample of raw values (decoded pixels, or an
 * array's [H, W, C] sample): channels, their order, then the size. The normalisation comes after, in the
 * loader (./files.ts normaliser), on the channels the model takes. Checks name the recipe entry and the fix.
 */
import { McbError } from '../errors.js';
import type { DataSpec, ImagePreprocess } from '../recipe/index.js';
import { fitTo, type Pixels } from './resample.js';

/** ITU-R BT.601 luma weights: TF's rgb_to_grayscale and PIL's "L" conversion use these. */
export const LUMA = [0.299, 0.587, 0.114] as const;

function problem(where: string, text: string): McbError {
  return new McbError('MCB_DATASET', `${where}: ${text}`);
}

/** Settings that need a size to mean anything: refused without one. */
export function checkFit(pre: ImagePreprocess, where: string): void {
  if (pre.resize !== 'stretch' && pre.size === undefined)
    throw problem(
      where,
      `\`preprocess.resize: ${pre.resize}\` fits the samples to \`preprocess.size\`, which is not set; set \`size\` (e.g. \`size: 224\`), or remove \`resize\`.`,
    );
}

/**
 * The sample shape arrays take under `pre` (stored: their [H, W, C] sample shape). Image settings need image
 * samples; arrays only lose channels (alpha dropped, colour to grey), since inventing colour would feed the
 * model something the data never held.
 */
export function arraySampleShape(
  stored: readonly number[],
  pre: ImagePreprocess | undefined,
  xName: string,
  where: string,
): number[] {
  if (!pre) return [...stored];
  const c = stored[2];
  if (stored.length !== 3 || (c !== 1 && c !== 3 && c !== 4))
    throw problem(
      where,
      `\`preprocess\` sets image settings (size, resize, channels, order or pad), but ${xName} holds samples of shape [${stored.join(', ')}], not images [height, width, channels] with 1, 3 or 4 channels. Reshape x to [N, H, W, C] (x[..., np.newaxis] for grey), or keep only the normalisation keys (scale, offset, mean, std), which apply to any data.`,
    );
  checkFit(pre, where);
  const channels = pre.channels ?? c;
  if (channels > c)
    throw problem(
      where,
      `\`preprocess.channels: ${channels}\` asks for more channels than ${xName} holds (${c}); arrays only lose channels (4 → 3 drops alpha, 3 or 4 → 1 is grey by luma). Set \`channels: ${c}\` or remove it, or store x with ${channels} channels.`,
    );
  if (pre.order === 'bgr' && channels === 1)
    throw problem(
      where,
      `\`preprocess.order: bgr\` reorders colour, but the inputs have 1 channel (${xName} is grey); remove \`order\`.`,
    );
  return [...(pre.size ?? [stored[0]!, stored[1]!]), channels];
}

/** An array sample with fewer channels: alpha dropped (4 → 3), grey by BT.601 luma (3 or 4 → 1). */
export function reduceChannels(p: Pixels, channels: number): Pixels {
  if (channels === p.channels) return p;
  const n = p.height * p.width;
  const out = new Float64Array(n * channels);
  const d = p.data;
  const c = p.channels;
  for (let i = 0; i < n; i++) {
    if (channels === 1) out[i] = LUMA[0] * d[i * c]! + LUMA[1] * d[i * c + 1]! + LUMA[2] * d[i * c + 2]!;
    else for (let k = 0; k < channels; k++) out[i * channels + k] = d[i * c + k]!;
  }
  return { ...p, data: out, channels };
}

/** The first and third channels swapped in place (RGB → BGR, RGBA → BGRA). */
export function toBgr(p: Pixels): Pixels {
  const { data, channels: c } = p;
  for (let i = 0; i < data.length; i += c) {
    const r = data[i]!;
    data[i] = data[i + 2]!;
    data[i + 2] = r;
  }
  return p;
}

/**
 * One sample through the block's image settings, its channels already those the model takes: order, then the
 * size (`fallback` when the block sets none: the first image's, or the stored size of arrays).
 */
export function preprocessSample(p: Pixels, pre: ImagePreprocess, fallback: readonly [number, number]): Pixels {
  const ordered = pre.order === 'bgr' && p.channels >= 3 ? toBgr(p) : p;
  const [height, width] = pre.size ?? fallback;
  return fitTo(ordered, height, width, pre.resize, pre.pad);
}

/**
 * The planner's hook for the model's input size: an entry with a `preprocess` block and no `size` takes the
 * model's [height, width] (`expected`: the model input's [h, w, c] without the batch axis, null where open),
 * so images of any size fit the model without the recipe repeating it. Entries without a block are returned
 * unchanged (their keys never move).
 * gatherPlanInputs calls it with the input shape the model's signature gives, before the data's facts are read.
 */
export function fitToModel<S extends DataSpec>(spec: S, expected: readonly (number | null)[] | undefined): S {
  if (spec.dataset === 'mnist' || !spec.preprocess || spec.preprocess.size !== undefined) return spec;
  const [h, w] = expected ?? [];
  if (typeof h !== 'number' || typeof w !== 'number' || h < 1 || w < 1) return spec;
  return { ...spec, preprocess: { ...spec.preprocess, size: [h, w] } };
}
