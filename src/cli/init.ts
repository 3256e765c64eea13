import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { modelLayers, readModelDir, MODEL_JSON, weightLayer } from '../model/index.js';
import { errnoCode, isMcbError, McbError } from '../errors.js';
import { fitModel, mnistFits } from './init-fit.js';
import { starterRecipe } from './init-recipe.js';
import type { Command } from './command.js';

export { mnistFits } from './init-fit.js';
export { starterRecipe } from './init-recipe.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'write a commented starter recipe that fits a TF.js model (its data, passes, fidelity and size gates)',
  usage: 'mcbuild init <model.json | model folder> [--out recipe.yaml] [--force] [options]',
  positionals: { name: '<model.json>', min: 1, max: 1 },
  options: {
    out: {
      type: 'string',
      value: 'FILE',
      description: 'the recipe to write (default: <model folder name>.yaml in the current folder)',
    },
    force: { type: 'boolean', short: 'f', description: 'overwrite the recipe file when it exists' },
  },
  examples: [
    'mcbuild init models/my-model/model.json',
    'mcbuild init models/my-model --out recipes/my-model.yaml',
    'mcbuild init models/my-model/model.json --out recipes/my-model.yaml --force',
  ],
  async run(ctx) {
    const modelJson = await locateModel(ctx.positionals[0]!);
    let json: Record<string, unknown>;
    let weighted: { name: string; className?: string; op?: string }[];
    let fit: ReturnType<typeof fitModel>;
    try {
      const { model } = await readModelDir(modelJson); // validates model.json and every shard
      json = model.json;
      const withWeights = new Set(model.weightSpecs.map((w) => weightLayer(w.name) ?? w.name));
      weighted = modelLayers(json, model.weightSpecs).filter((l) => withWeights.has(l.name) || l.op !== undefined);
      fit = fitModel(json, model.weightSpecs);
    } catch (e) {
      if (isMcbError(e) && e.code === 'MCB_MODEL_NOT_FOUND') {
        throw new McbError(
          'MCB_MODEL_NOT_FOUND',
          `\`mcbuild init\` needs a TF.js model: ${e.message.split('. ')[0]!.replace(/\.$/, '')}. Pass the path of a model.json (or of the folder holding it).`,
        );
      }
      throw e;
    }
    const folder = sanitizeName(basename(dirname(modelJson)));
    const outOpt = ctx.values.out;
    if (outOpt === '') throw new McbError('MCB_USAGE', '--out needs a file name, e.g. `--out recipes/my-model.yaml`.');
    let file = resolve(typeof outOpt === 'string' ? outOpt : `${folder}.yaml`);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, `${folder}.yaml`);
    } catch {
      /* does not exist: written below */
    }
    const shape = modelInputShape(json);
    const name = `${folder}-${fit.data === 'mnist' ? 'uint8' : 'int8'}`;
    const text = starterRecipe({ recipeFile: file, modelJson, name, fit, inputShape: shape, layers: weighted });
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text, { flag: ctx.values.force === true ? 'w' : 'wx' });
    } catch (e) {
      if (errnoCode(e) === 'EEXIST') {
        throw new McbError(
          'MCB_OUTPUT',
          `${relative(process.cwd(), file) || file} already exists; \`mcbuild init\` does not overwrite it. Pass --force to replace it, or --out to write another file.`,
        );
      }
      throw new McbError(
        'MCB_OUTPUT',
        `cannot write the recipe ${file} (${errnoCode(e) ?? String(e)}). Make its folder writable, or choose another file with --out.`,
      );
    }
    const shown = relative(process.cwd(), file) || file;
    const fits = shape === undefined ? undefined : mnistFits(shape);
    if (ctx.out.json) {
      ctx.out.jsonResult({
        recipe: file,
        model: modelJson,
        name,
        inputShape: shape ?? null,
        mnistFits: fits ?? null,
        format: fit.format,
        data: fit.data,
        outputs: fit.outputs,
      });
    } else {
      ctx.out.result(`wrote ${shown} for ${relative(process.cwd(), modelJson) || modelJson}`);
      const input = fit.inputs[0];
      if (fit.data === 'images')
        ctx.out.info(
          'note: the recipe reads images from ./images (label-free: fidelity to the original is measured); point `data.eval.path` at your images before building.',
        );
      else if (fit.data === 'npy')
        ctx.out.info(
          `note: the recipe reads the model's ${input?.declared ?? input?.dtype ?? ''} input from ./inputs.npy (label-free); point \`data.eval.x\` at an array of your inputs before building.`,
        );
      ctx.out.info(`next: mcbuild validate ${shown} && mcbuild ${shown}`);
    }
    return 0;
  },
};

/** A model.json, given it or the folder holding it. */
async function locateModel(arg: string): Promise<string> {
  const path = resolve(arg);
  try {
    if ((await stat(path)).isDirectory()) {
      const inside = join(path, MODEL_JSON);
      if (!existsSync(inside))
        throw new McbError(
          'MCB_MODEL_NOT_FOUND',
          `the folder ${arg} holds no ${MODEL_JSON}. Pass the path of a TF.js model.json (or of the folder holding it).`,
        );
      return inside;
    }
  } catch (e) {
    if (isMcbError(e)) throw e;
    // readModelDir reports a missing file in its own words.
  }
  return path;
}

/** A recipe name (schema: ^[A-Za-z0-9][A-Za-z0-9._-]*$) from a folder name. */
export function sanitizeName(folder: string): string {
  const name = folder
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 90);
  return name || 'model';
}

/**
 * The input shape of a model.json, batch dimension included ([null, 28, 28, 1]), when its topology says:
 * the first layer's batch_input_shape (Keras 2 / TF.js) or batch_shape (Keras 3) of a layers model, the
 * first Placeholder of a graph model. Undefined when it cannot tell.
 */
export function modelInputShape(json: Record<string, unknown>): (number | null)[] | undefined {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const dims = (v: unknown): (number | null)[] | undefined =>
    Array.isArray(v) && v.every((d) => d === null || typeof d === 'number')
      ? (v as (number | null)[]).map((d) => (d === -1 ? null : d))
      : undefined;
  const topology = obj(json.modelTopology);
  if (!topology) return undefined;
  if (Array.isArray(topology.node)) {
    for (const n of topology.node) {
      const node = obj(n);
      if (node?.op !== 'Placeholder') continue;
      const dim = obj(obj(obj(node.attr)?.shape)?.shape)?.dim;
      if (!Array.isArray(dim)) return undefined;
      return dim.map((d) => {
        const size = Number(obj(d)?.size);
        return Number.isFinite(size) && size >= 0 ? size : null;
      });
    }
    return undefined;
  }
  const config = obj(obj(topology.model_config)?.config) ?? obj(topology.config);
  const layers = Array.isArray(config?.layers) ? config.layers : [];
  for (const l of layers) {
    const c = obj(obj(l)?.config);
    const shape = dims(c?.batch_input_shape) ?? dims(c?.batch_shape) ?? dims(c?.batchInputShape);
    if (shape) return shape;
  }
  return undefined;
}
