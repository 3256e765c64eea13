import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { modelLayers, readModelDir, MODEL_JSON, weightLayer } from '../model/index.js';
import { errnoCode, isMcbError, McbError } from '../errors.js';
import { findProjectRoot, schemaPath } from '../recipe/index.js';
import type { Command } from './command.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'write a commented starter recipe for a TF.js model (quantize to uint8, gate on accuracy)',
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
    let weighted: { name: string; className?: string }[];
    try {
      const { model } = await readModelDir(modelJson); // validates model.json and every shard
      json = model.json;
      const withWeights = new Set(model.weightSpecs.map((w) => weightLayer(w.name) ?? w.name));
      weighted = modelLayers(json, model.weightSpecs).filter((l) => withWeights.has(l.name));
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
    const text = starterRecipe({
      recipeFile: file,
      modelJson,
      name: `${folder}-uint8`,
      inputShape: shape,
      layers: weighted,
    });
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
        name: `${folder}-uint8`,
        inputShape: shape ?? null,
        mnistFits: fits ?? null,
      });
    } else {
      ctx.out.result(`wrote ${shown} for ${relative(process.cwd(), modelJson) || modelJson}`);
      if (fits === false)
        ctx.out.info(
          `note: the model takes inputs of shape [${shape!.join(', ')}], but mnist gives [28, 28, 1]; change \`data\` before building (the recipe says so too).`,
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

/** Whether samples of mnist ([28, 28, 1] images) fit a model input shape with its batch dimension. */
export function mnistFits(shape: readonly (number | null)[]): boolean | undefined {
  const s = shape.slice(1);
  if (s.some((d) => d === null)) return undefined;
  const key = s.join(',');
  return key === '28,28,1' || key === '28,28' || key === '784';
}

/** A path relative to `fromDir`, with forward slashes and a leading ./ for YAML readers. */
function relPath(fromDir: string, to: string): string {
  const r = relative(fromDir, to).split(sep).join('/');
  if (r === '') return '.';
  return r.startsWith('../') || r === '..' || r.startsWith('/') || /^[A-Za-z]:/.test(r) ? r : `./${r}`;
}

/** A YAML scalar: plain when safe, else double-quoted (JSON strings are valid YAML). */
function scalar(s: string): string {
  return /^[A-Za-z0-9._/-][A-Za-z0-9._/ -]*$/.test(s) && !s.endsWith(' ') && !/^[-.]+$/.test(s) ? s : JSON.stringify(s);
}

export function starterRecipe(opts: {
  recipeFile: string;
  modelJson: string;
  name: string;
  inputShape: (number | null)[] | undefined;
  layers?: { name: string; className?: string }[];
}): string {
  const dir = dirname(opts.recipeFile);
  const modelDir = dirname(opts.modelJson);
  // Default layout: out/<name> at the project root, unless that is the model's folder, inside it (a rebuild of
  // the model would delete it) or around it: then next to the model's folder.
  const within = (a: string, b: string) => a === b || a.startsWith(`${b}${sep}`);
  let outDir = join(findProjectRoot(opts.recipeFile), 'out', opts.name);
  if (within(outDir, modelDir) || within(modelDir, outDir)) outDir = join(dirname(modelDir), opts.name);
  if (within(outDir, modelDir) || within(modelDir, outDir)) outDir = join(dirname(modelDir), `${opts.name}-2`);
  const fits = opts.inputShape === undefined ? undefined : mnistFits(opts.inputShape);
  const file = basename(opts.recipeFile);
  const lines = [
    `# yaml-language-server: $schema=${relPath(dir, schemaPath('recipe.schema.json'))}`,
    '#',
    `# A starter recipe written by \`mcbuild init\`. Check it with \`mcbuild validate ${file}\` (runs nothing),`,
    `# build it with \`mcbuild ${file}\`. Relative paths in this file are relative to this file.`,
    'version: 1',
    `name: ${scalar(opts.name)}    # shown in reports; letters, digits, . _ -`,
    '',
    '# The baseline: a TF.js layers or graph model.json with its weight shards next to it.',
    '# (`model: { train: { architecture: mlp, dataset: mnist } }` would train a builtin architecture instead.)',
    'model:',
    `  path: ${scalar(relPath(dir, opts.modelJson))}`,
    '',
    '# Baseline and result are both measured on these same samples.',
    'data:',
    '  eval: { dataset: mnist, split: test }   # the 1,996 MNIST test digits; add `limit: 500` for a quicker run',
  ];
  if (fits === false) {
    lines.push(
      `  # NOTE: this model takes inputs of shape [${opts.inputShape!.map((d) => (d === null ? 'null' : String(d))).join(', ')}], but mnist gives`,
      '  # [28, 28, 1] images: mnist may not fit this model. mnist is the only dataset mcbuild has so far.',
    );
  }
  lines.push(
    '  # train: { dataset: mnist, split: train }   # needed by passes that train (finetune)',
    '',
    '# Compression passes, applied in order; each entry is one pass and its options.',
    'passes:',
    '  - quantize: { dtype: uint8 }        # affine uint8, one min and scale per tensor: ~4x smaller than float32',
    '  # - quantize: { dtype: float16 }    # 2x smaller, usually without accuracy loss',
    '  # - quantize: { dtype: uint16 }     # 2x smaller, finer steps than uint8',
    '  # - finetune: { epochs: 1 }         # train further on data.train (float32 out: put it before quantize)',
    '',
    ...overridesExample(opts.layers ?? []),
    '# The gate: a missed threshold fails the build with exit code 1, so it can gate CI.',
    'thresholds:',
    '  accuracy: { maxDrop: 0.01 }         # at most 1 percentage point below the baseline',
    '  # size: { maxBytes: 300kB, minRatio: 3.5 }   # at most 300 kB, and at least 3.5x smaller than the baseline',
    '',
    '# Where model.json, its weight shards and report.json are written.',
    `output: ${scalar(relPath(dir, outDir))}`,
    '',
    '# runtime: { backend: auto }          # auto | tensorflow | wasm | cpu',
    '',
  );
  return lines.join('\n');
}

/** A commented `overrides` block naming this model's own layers, so per-layer settings start from real names. */
function overridesExample(layers: readonly { name: string; className?: string }[]): string[] {
  if (layers.length === 0) return [];
  const shown = layers.length > 8 ? [...layers.slice(0, 6), undefined, layers.at(-1)!] : layers;
  const last = layers.at(-1)!;
  return [
    '# Per-layer settings: blocks of layer names (exact, globs like "conv_*", or "re:<regex>") and/or classes,',
    '# each giving passes their options for those layers, or `skip`; later blocks win. `mcbuild explain` shows',
    `# the result per layer. This model's layers with weights (${layers.length}):`,
    ...shown.map((l) => (l ? `#   ${l.name}${l.className ? ` (${l.className})` : ''}` : '#   …')),
    '# overrides:',
    `#   - layers: [${scalar(last.name)}]    # e.g. keep the output layer float32`,
    '#     quantize: skip',
    '',
  ];
}
