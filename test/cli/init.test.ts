import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mnistFits, modelInputShape, sanitizeName, starterRecipe } from '../../src/cli/init.js';
import { loadRecipe } from '../../src/language/index.js';
import { tempDir, writeText } from '../helpers.js';

describe('modelInputShape', () => {
  it('reads a TF.js layers model (Sequential and functional)', () => {
    expect(
      modelInputShape({
        modelTopology: {
          class_name: 'Sequential',
          config: { layers: [{ class_name: 'Flatten', config: { batch_input_shape: [null, 28, 28, 1] } }] },
        },
      }),
    ).toEqual([null, 28, 28, 1]);
    expect(
      modelInputShape({
        modelTopology: {
          model_config: {
            class_name: 'Functional',
            config: { layers: [{ class_name: 'InputLayer', config: { batch_shape: [null, 224, 224, 3] } }] },
          },
        },
      }),
    ).toEqual([null, 224, 224, 3]);
  });

  it('reads a graph model placeholder', () => {
    const json = {
      format: 'graph-model',
      modelTopology: {
        node: [
          { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '784' }] } } } },
        ],
      },
    };
    expect(modelInputShape(json)).toEqual([null, 784]);
  });

  it('is undefined when the topology does not say', () => {
    expect(modelInputShape({ modelTopology: { config: { layers: [] } } })).toBeUndefined();
    expect(modelInputShape({})).toBeUndefined();
  });

  it('tells whether mnist fits', () => {
    expect(mnistFits([null, 28, 28, 1])).toBe(true);
    expect(mnistFits([null, 784])).toBe(true);
    expect(mnistFits([null, 32, 32, 3])).toBe(false);
    expect(mnistFits([null, null, null, 3])).toBeUndefined();
  });
});

describe('starterRecipe', () => {
  it('notes when mnist may not fit the model, and stays a valid recipe', async () => {
    const dir = tempDir();
    writeText(join(dir, 'package.json'), '{}');
    const file = join(dir, 'recipes', 'cifar.yaml');
    const text = starterRecipe({
      recipeFile: file,
      modelJson: join(dir, 'models', 'cifar', 'model.json'),
      name: 'cifar-uint8',
      inputShape: [null, 32, 32, 3],
    });
    expect(text).toMatch(
      /# NOTE: this model takes inputs of shape \[null, 32, 32, 3\], but mnist gives \[28, 28, 1\] images:\n {2}# mnist may not fit this model\. Give it `dataset: images` or `npy` data instead/,
    );
    expect(text).not.toMatch(/only dataset/);
    expect(text).toMatch(/^ {2}path: \.\.\/models\/cifar\/model\.json$/m);
    expect(text).toMatch(/^output: \.\.\/out\/cifar-uint8$/m);
    writeText(file, text);
    const recipe = await loadRecipe(file);
    expect(recipe.name).toBe('cifar-uint8');
    expect(recipe.output).toBe(join(dir, 'out', 'cifar-uint8'));
    expect(recipe.model).toEqual({ kind: 'file', path: join(dir, 'models', 'cifar', 'model.json') });
  });

  it('never points the output at the model folder or around it', () => {
    const dir = tempDir();
    const text = starterRecipe({
      recipeFile: join(dir, 'r.yaml'),
      modelJson: join(dir, 'out', 'm-uint8', 'model.json'),
      name: 'm-uint8',
      inputShape: undefined,
    });
    expect(text).toMatch(/^output: \.\/out\/m-uint8-2$/m);
    const inside = starterRecipe({
      recipeFile: join(dir, 'r.yaml'),
      modelJson: join(dir, 'out', 'model.json'),
      name: 'out-uint8',
      inputShape: undefined,
    });
    expect(inside).toMatch(/^output: \.\/out-uint8$/m);
  });

  it('quotes paths YAML would misread', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.yaml');
    const text = starterRecipe({
      recipeFile: file,
      modelJson: join(dir, 'my models: #1', 'model.json'),
      name: 'x',
      inputShape: undefined,
    });
    expect(text).toMatch(/^ {2}path: "\.\/my models: #1\/model\.json"$/m);
    writeText(file, text);
    expect((await loadRecipe(file)).model).toEqual({ kind: 'file', path: join(dir, 'my models: #1', 'model.json') });
  });

  it('makes names the schema accepts', () => {
    expect(sanitizeName('My Model (v2)')).toBe('My-Model-v2-');
    expect(sanitizeName('.hidden')).toBe('hidden');
    expect(sanitizeName('___')).toBe('model');
  });
});
