import type { KindSchema } from './kind.js';
import { normalisationProperties } from './normalisation-schema.js';

/** The most pixels a side may have after preprocessing (as the images kind's own `size`). */
export const MAX_SIDE = 8192;

/**
 * The `preprocess` block every file kind takes: what turns the stored samples (images of any size, arrays
 * shaped [N, H, W, C]) into the model's inputs. Its normalisation keys are the ones the entry also takes
 * directly (one schema, ./normalisation-schema.ts); a key may be written in one place only.
 */
export function preprocessProperty(scaleDefault: string): KindSchema['properties'] {
  return {
    preprocess: {
      description:
        "How samples become the model's inputs, in this order: channels (and their order), then the size (`resize`), then the normalisation: inputs are (raw·scale + offset − mean[c]) / std[c]. Every setting is in the keys of the steps that read the data. Without `size`, images keep the first image's size and arrays their stored size. Image settings (size, resize, channels, order, pad) need image data: image files, or arrays shaped [N, H, W, C] with C 1, 3 or 4.",
      type: 'object',
      additionalProperties: false,
      properties: {
        size: {
          description:
            '[height, width] of the inputs, or one number for a square. Resized with a bilinear filter that is antialiased when it shrinks (each output pixel averages the source pixels it covers, as PIL and tf.image.resize(antialias=true) do); the identity at the same size. Images are then rounded to whole values (an 8-bit image, as a canvas or PIL gives a deployed model).',
          anyOf: [
            { type: 'integer', minimum: 1, maximum: MAX_SIDE },
            { type: 'array', minItems: 2, maxItems: 2, items: { type: 'integer', minimum: 1, maximum: MAX_SIDE } },
          ],
        },
        resize: {
          description:
            "How a sample of another aspect ratio fits `size`: `stretch` (default) scales each axis on its own; `centre-crop` scales it to cover `size` and cuts the middle out (ImageNet-style evaluation); `letterbox` scales it to fit inside `size` and pads the rest with `pad` (detectors' way: nothing is cut or distorted).",
          enum: ['stretch', 'centre-crop', 'letterbox'],
        },
        channels: {
          description:
            'Channels of the model input: 1 (grey: 0.299 R + 0.587 G + 0.114 B), 3 (RGB) or 4 (RGBA). Images: grey images are repeated to 3, alpha dropped for 1 and 3 (default 3). Arrays: only fewer channels than stored (4 → 3 drops alpha, 3 or 4 → 1 by luma); default: as stored.',
          enum: [1, 3, 4],
        },
        order: {
          description:
            "`rgb` (default) or `bgr`: the colour order the model was trained with (Caffe and OpenCV models take BGR). With `bgr`, `mean` and `std` are in the model's order too (B first). Arrays are taken to be stored RGB.",
          enum: ['rgb', 'bgr'],
        },
        pad: {
          description:
            'The raw value (before normalisation: 0..255 for images) `letterbox` pads with; default 0 (black). 114 is the grey YOLO models use.',
          type: 'number',
        },
        ...normalisationProperties(scaleDefault),
      },
    },
  };
}
