/**
 * What `mcbuild init` reads from a model.json (src/cli/init-fit.ts) and the recipe it writes from it
 * (src/cli/init-recipe.ts): data by the input's shape and dtype, limits by each output's width and softmax.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitModel, type InitFit } from '../../src/cli/init-fit.js';
import { starterRecipe } from '../../src/cli/init-recipe.js';
import { loadRecipe } from '../../src/language/index.js';
import { tempDir, writeText } from '../helpers.js';

/** A graph model.json of one Placeholder and the given outputs (signature as the converter writes it). */
function graph(input: { dtype: string; dims: number[] }, outputs: { name: string; dims: number[]; op?: string }[]) {
  const shape = (dims: number[]) => ({ dim: dims.map((d) => ({ size: String(d) })) });
  return {
    format: 'graph-model',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: input.dtype }, shape: { shape: shape(input.dims) } } },
        ...outputs.map((o) => ({ name: `${o.name}_node`, op: o.op ?? 'BiasAdd', input: ['x'] })),
        ...outputs.map((o) => ({ name: `Identity_${o.name}`, op: 'Identity', input: [`${o.name}_node`] })),
      ],
    },
    signature: {
      inputs: { 'x:0': { name: 'x:0', dtype: input.dtype, tensorShape: shape(input.dims) } },
      outputs: Object.fromEntries(
        outputs.map((o) => [o.name, { name: `Identity_${o.name}:0`, dtype: 'DT_FLOAT', tensorShape: shape(o.dims) }]),
      ),
    },
  };
}

/** A Sequential layers model: an input shape and a Dense output. */
function layers(inputShape: (number | null)[], units: number, activation: string) {
  return {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Flatten', config: { name: 'flat', batch_input_shape: inputShape } },
          { class_name: 'Dense', config: { name: 'out', units, activation } },
        ],
      },
    },
  };
}

const f32 = [{ name: 'k', shape: [2, 2], dtype: 'float32' }];

describe('fitModel', () => {
  it('float images [h, w, 1|3] → images at the model size; softmax outputs found through Identity nodes', () => {
    const fit = fitModel(
      graph({ dtype: 'DT_FLOAT', dims: [-1, 64, 48, 3] }, [
        { name: 'probs', dims: [-1, 5], op: 'Softmax' },
        { name: 'emb', dims: [-1, 16] },
      ]),
      f32,
    );
    expect(fit).toMatchObject({ format: 'graph', data: 'images', image: { size: [64, 48], channels: 3 } });
    expect(fit.outputs).toEqual([
      { name: 'probs', width: 5, softmax: true },
      { name: 'emb', width: 16, softmax: false },
    ]);
    expect(fit.stored).toBe('float32');
  });

  it('integer inputs and other shapes → npy; open sizes stay open', () => {
    expect(fitModel(graph({ dtype: 'DT_UINT8', dims: [1, 96, 96, 3] }, [{ name: 'y', dims: [1, 4] }]), f32).data).toBe(
      'npy',
    );
    expect(fitModel(graph({ dtype: 'DT_FLOAT', dims: [-1, 100, 6] }, [{ name: 'y', dims: [-1, 1] }]), f32).data).toBe(
      'npy',
    );
    const open = fitModel(graph({ dtype: 'DT_FLOAT', dims: [-1, -1, -1, 1] }, [{ name: 'y', dims: [-1, 2] }]), f32);
    expect(open).toMatchObject({ data: 'images', image: { channels: 1 } });
    expect(open.image?.size).toBeUndefined();
  });

  it('an mnist-shaped 10-class layers model keeps the mnist starter; another width does not', () => {
    expect(fitModel(layers([null, 28, 28, 1], 10, 'softmax'), f32)).toMatchObject({ data: 'mnist', format: 'layers' });
    const other = fitModel(layers([null, 28, 28, 1], 3, 'softmax'), f32);
    expect(other).toMatchObject({ data: 'images', outputs: [{ name: 'out', width: 3, softmax: true }] });
  });

  it('tells how the source stores its float weights', () => {
    const json = layers([null, 8], 2, 'linear');
    const q = (dtype: string) => [{ name: 'k', shape: [2], dtype: 'float32', quantization: { dtype } }] as never;
    expect(fitModel(json, q('uint8')).stored).toBe('8-bit');
    expect(fitModel(json, q('float16')).stored).toBe('float16');
  });
});

describe('starterRecipe with a fit', () => {
  async function written(fit: InitFit) {
    const dir = tempDir();
    writeText(join(dir, 'package.json'), '{}');
    const file = join(dir, 'r.yaml');
    const text = starterRecipe({ recipeFile: file, modelJson: join(dir, 'm', 'model.json'), name: 'm-int8', fit });
    writeText(file, text);
    return { text, recipe: await loadRecipe(file) };
  }

  it('gates a one-value output on maxRelError, a vector on cosine, a softmax on agreement too', async () => {
    const fit = fitModel(
      graph({ dtype: 'DT_FLOAT', dims: [-1, 32] }, [
        { name: 'score', dims: [-1, 1] },
        { name: 'vec', dims: [-1, 8] },
        { name: 'cls', dims: [-1, 4], op: 'Softmax' },
      ]),
      f32,
    );
    const { text, recipe } = await written(fit);
    expect(recipe.thresholds.fidelity?.outputs).toEqual({
      score: { maxRelError: 0.05 },
      vec: { minCosine: 0.99 },
      cls: { minCosine: 0.99, minAgreement: 0.95 },
    });
    expect(recipe.thresholds.size).toEqual({ minRatio: 2.5 });
    expect(recipe.data.eval).toMatchObject({ dataset: 'npy' });
    expect(recipe.passes.map((p) => p.name)).toEqual(['quantize']);
    expect(text).toMatch(/^ {2}- quantize: \{ dtype: int8, granularity: per-channel \}/m);
  });

  it('a one-output model of one value gets a top-level maxRelError; an 8-bit source int4 and a ratio of 1.2', async () => {
    const fit = fitModel(layers([null, 8], 1, 'linear'), [
      { name: 'k', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', min: 0, scale: 1 } } as never,
    ]);
    const { text, recipe } = await written(fit);
    expect(recipe.thresholds.fidelity).toEqual({ maxRelError: 0.05 });
    expect(recipe.thresholds.size).toEqual({ minRatio: 1.2 });
    expect(text).toMatch(/the source already stores weights in 8 bits: int8 would not make it smaller/);
    expect(recipe.passes).toMatchObject([
      { name: 'quantize', rawOptions: { dtype: 'int4', granularity: 'per-channel' } },
    ]);
  });
});
