import type { KindSchema } from './kind.js';

/**
 * The keys every file kind takes to turn raw values into model inputs (the Normalisation of its spec):
 * inputs are (raw·scale + offset − mean[c]) / std[c]. `scaleDefault` says the kind's default scale and why.
 */
export function normalisationProperties(scaleDefault: string): KindSchema['properties'] {
  return {
    scale: {
      description: `Raw values are multiplied by this (default ${scaleDefault}); inputs are (raw·scale + offset − mean[c]) / std[c], c the channel (last axis).`,
      type: 'number',
    },
    offset: {
      description:
        'Added after `scale` (default 0): `scale: 0.00784313725490196, offset: -1` maps pixels 0..255 to [-1, 1].',
      type: 'number',
    },
    mean: {
      description:
        "Subtracted per channel after scale and offset: one value per channel, or one for all (e.g. ImageNet's [0.485, 0.456, 0.406] with pixels scaled to 0..1). Default: none.",
      type: 'array',
      minItems: 1,
      items: { type: 'number' },
    },
    std: {
      description:
        'Divides per channel after `mean` is subtracted: one value per channel, or one for all (e.g. [0.229, 0.224, 0.225]). Default: none.',
      type: 'array',
      minItems: 1,
      items: { type: 'number', exclusiveMinimum: 0 },
    },
  };
}
