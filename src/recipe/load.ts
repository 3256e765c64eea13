import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { errnoCode, McbError } from '../errors.js';
import { findProjectRoot } from './paths.js';
import { formatPosition, SourceMap } from './source.js';
import type { DataSpec, PassEntry, Recipe, Thresholds, TrainSpec } from './types.js';
import { validateRecipeData } from './validate.js';
import { parseByteSize } from '../util/bytes.js';

/** Recipes are hand-written text; anything this large is a mistake (or an attack), not a recipe. */
const MAX_RECIPE_BYTES = 1024 * 1024;
/** Anchors and aliases are handy for repeating a block; thousands of them are a "billion laughs" bomb. */
const MAX_ALIASES = 100;

/** Reads, parses, validates and normalises a recipe. Every failure is an McbError with file:line:col. */
export async function loadRecipe(file: string): Promise<Recipe> {
  const path = resolve(file);
  const text = await readRecipeText(path, file);
  const lines = new LineCounter();
  // uniqueKeys: a duplicated key is an error, not "the last one silently wins".
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const source = new SourceMap(path, doc, lines);
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const at = formatPosition(source.at(problem.pos[0]));
    const what = problem.code === 'DUPLICATE_KEY' ? 'a key appears twice in the same map' : firstLine(problem.message);
    throw new McbError('MCB_RECIPE_YAML', `${at}: YAML error: ${what}. Fix the YAML at that line (indentation, quoting, a missing colon or a repeated key are the usual causes).`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    throw new McbError(
      'MCB_RECIPE_YAML',
      `${formatPosition(source.at(0))}: YAML error: ${firstLine(e instanceof Error ? e.message : String(e))}. Recipes may use at most ${MAX_ALIASES} alias expansions; write the values out instead.`,
    );
  }
  if (data === null || data === undefined) {
    throw new McbError('MCB_RECIPE_INVALID', `${path}: the recipe is empty. Start from recipes/mnist-mlp.yaml, or run \`mcbuild --help\`.`);
  }
  validateRecipeData(data, source);
  return normalise(data as RawRecipe, source);
}

async function readRecipeText(path: string, asGiven: string): Promise<string> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) {
      throw new McbError('MCB_RECIPE_NOT_FOUND', `${asGiven} is a directory, not a recipe file. Pass the path of a .yaml recipe, such as recipes/mnist-mlp.yaml.`);
    }
    if (s.size > MAX_RECIPE_BYTES) {
      throw new McbError('MCB_RECIPE_INVALID', `${asGiven} is ${s.size} bytes; a recipe may be at most ${MAX_RECIPE_BYTES} bytes. Check that you passed the recipe and not a model or data file.`);
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof McbError) throw e;
    if (errnoCode(e) === 'ENOENT') {
      throw new McbError('MCB_RECIPE_NOT_FOUND', `recipe file ${asGiven} does not exist (looked at ${path}). Check the path, or list the examples in recipes/.`);
    }
    throw new McbError('MCB_RECIPE_NOT_FOUND', `cannot read recipe file ${asGiven}: ${errnoCode(e) ?? String(e)}. Check that it is a readable file.`);
  }
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

// The shape the schema guarantees; optional members get their defaults in normalise().
interface RawDataSpec { dataset: 'mnist'; split?: 'train' | 'test'; limit?: number }
interface RawRecipe {
  name: string;
  description?: string;
  model: { path?: string; train?: Partial<TrainSpec> & { architecture: string; dataset?: 'mnist'; limit?: number } };
  data: { eval: RawDataSpec; calibration?: RawDataSpec; train?: RawDataSpec };
  passes?: Record<string, Record<string, unknown> | null>[];
  thresholds?: { accuracy?: Thresholds['accuracy']; size?: { maxBytes?: number | string; maxGzipBytes?: number | string; maxBrotliBytes?: number | string; minRatio?: number } };
  output?: string;
  runtime?: { backend?: Recipe['runtime']['backend'] };
}

function dataSpec(raw: RawDataSpec, defaultSplit: 'train' | 'test'): DataSpec {
  return { dataset: raw.dataset, split: raw.split ?? defaultSplit, ...(raw.limit === undefined ? {} : { limit: raw.limit }) };
}

function normalise(raw: RawRecipe, source: SourceMap): Recipe {
  const dir = dirname(source.file);
  const fromRecipe = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const data: Recipe['data'] = { eval: dataSpec(raw.data.eval, 'test') };
  if (raw.data.calibration) data.calibration = dataSpec(raw.data.calibration, 'train');
  if (raw.data.train) data.train = dataSpec(raw.data.train, 'train');

  let model: Recipe['model'];
  if (raw.model.path !== undefined) {
    model = { kind: 'file', path: fromRecipe(raw.model.path) };
  } else {
    const t = raw.model.train!;
    const trainData: DataSpec = t.dataset
      ? { dataset: t.dataset, split: 'train', ...(t.limit === undefined ? {} : { limit: t.limit }) }
      : { ...(data.train ?? { dataset: 'mnist', split: 'train' }), ...(t.limit === undefined ? {} : { limit: t.limit }) };
    model = {
      kind: 'train',
      train: {
        architecture: t.architecture,
        options: t.options ?? {},
        data: trainData,
        epochs: t.epochs ?? 3,
        batchSize: t.batchSize ?? 64,
        learningRate: t.learningRate ?? 0.001,
        optimizer: t.optimizer ?? 'adam',
        schedule: t.schedule ?? { type: 'constant' },
        seed: t.seed ?? 1,
      },
    };
  }

  const passes: PassEntry[] = (raw.passes ?? []).map((entry, index) => {
    const [name, options] = Object.entries(entry)[0]!;
    return { index, name, rawOptions: options ?? {} };
  });

  const thresholds: Thresholds = {};
  if (raw.thresholds?.accuracy) thresholds.accuracy = { ...raw.thresholds.accuracy };
  if (raw.thresholds?.size) {
    const { minRatio } = raw.thresholds.size;
    thresholds.size = {};
    for (const key of ['maxBytes', 'maxGzipBytes', 'maxBrotliBytes'] as const) {
      const value = raw.thresholds.size[key];
      if (value === undefined) continue;
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        throw new McbError('MCB_RECIPE_INVALID', `\`thresholds.size.${key}\` is not a size at ${formatPosition(source.positionOf(['thresholds', 'size', key]))}; write bytes or a size such as "300kB".`);
      }
      thresholds.size[key] = bytes;
    }
    if (minRatio !== undefined) thresholds.size.minRatio = minRatio;
  }

  return {
    file: source.file,
    name: raw.name,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    model,
    data,
    passes,
    thresholds,
    output: raw.output !== undefined ? fromRecipe(raw.output) : join(findProjectRoot(source.file), 'out', raw.name),
    runtime: { backend: raw.runtime?.backend ?? 'auto' },
    source,
  };
}
