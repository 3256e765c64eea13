/**
 * A validated recipe document made into a Recipe: defaults filled in, paths made absolute, sizes parsed, and
 * the checks that need more than one value (significance with its limit, latency batch sizes, ...).
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { McbError } from '../errors.js';
import { parseByteSize } from '../util/bytes.js';
import { LATENCY_BATCHES } from './defaults.js';
import { variantOutput } from './matrix.js';
import { checkInsideProject, findProjectRoot } from './paths.js';
import type { RecipeLanguage } from './language.js';
import { formatPosition, type RecipeSource } from './source.js';
import type {
  CountThreshold,
  DataSpec,
  OverrideBlock,
  PassEntry,
  Recipe,
  SearchSpec,
  Thresholds,
  TrainSpec,
  Variant,
} from './types.js';

/** Thresholds on counts of the result model, all with `max` and `minRatio`. */
const COUNT_METRICS = ['params', 'nonZeroParams', 'macs', 'flops'] as const;

/** A data entry as validated: its kind's keys (src/data/kinds/), normalised by that kind. */
type RawDataSpec = { dataset: string } & Record<string, unknown>;
type DataRole = 'eval' | 'calibration' | 'train';
export interface RawRecipe {
  name: string;
  description?: string;
  model: {
    path?: string;
    nonFinite?: 'fail' | 'warn';
    outputs?: string[];
    train?: Partial<TrainSpec> & { architecture: string; dataset?: 'mnist'; limit?: number };
  };
  data: { eval: RawDataSpec; calibration?: RawDataSpec; train?: RawDataSpec };
  passes?: Record<string, Record<string, unknown> | null>[];
  overrides?: ({ layers?: string[]; classes?: string[]; ops?: string[] } & Record<string, unknown>)[];
  thresholds?: {
    accuracy?: Thresholds['accuracy'];
    fidelity?: Thresholds['fidelity'];
    latency?: Thresholds['latency'];
    metrics?: Record<string, Record<string, number | string>>;
    params?: CountThreshold;
    nonZeroParams?: CountThreshold;
    macs?: CountThreshold;
    flops?: CountThreshold;
    size?: {
      maxBytes?: number | string;
      maxGzipBytes?: number | string;
      maxBrotliBytes?: number | string;
      minRatio?: number;
    };
  };
  output?: string;
  runtime?: {
    backend?: Recipe['runtime']['backend'];
    threads?: Recipe['runtime']['threads'];
    latency?: Recipe['runtime']['latency'];
  };
}

/**
 * One `data.<role>` entry with its defaults filled in, by its kind (src/data/kinds/, through the language).
 * File paths are resolved against the file that wrote them (a base recipe's own folder for a path it sets; the
 * recipe's for `--set`), as `model.path` is, and written back into `raw` so the recipe's `document` holds them
 * absolute too.
 */
function dataSpec(raw: RawDataSpec, role: DataRole, source: RecipeSource, language: RecipeLanguage): DataSpec {
  const fields = raw as unknown as Record<string, string>;
  const file = (key: string): string => {
    const written = fields[key]!;
    const absolute = isAbsolute(written)
      ? written
      : resolve(dirname(source.positionOf(['data', role, key]).file), written);
    fields[key] = absolute;
    return absolute;
  };
  const at = (...keys: string[]): string => formatPosition(source.positionOf(['data', role, ...keys]));
  return language.normaliseData(raw, { role, file, at });
}

export interface NormaliseContext {
  source: RecipeSource;
  /** Every recipe file read (the recipe and the files it extends). */
  files: string[];
  /** The searches taken out of the pass entries (src/recipe/search-spec.ts), by entry index. */
  search: Map<number, SearchSpec>;
  language: RecipeLanguage;
  variant?: Variant;
  allowOutside?: boolean;
}

export function normalise(raw: RawRecipe, ctx: NormaliseContext): Recipe {
  const { source, files, search, language, variant, allowOutside } = ctx;
  const dir = dirname(source.file);
  const fromRecipe = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const data: Recipe['data'] = { eval: dataSpec(raw.data.eval, 'eval', source, language) };
  if (raw.data.calibration) data.calibration = dataSpec(raw.data.calibration, 'calibration', source, language);
  if (raw.data.train) data.train = dataSpec(raw.data.train, 'train', source, language);

  let model: Recipe['model'];
  if (raw.model.path !== undefined) {
    model = {
      kind: 'file',
      path: fromRecipe(raw.model.path),
      ...(raw.model.nonFinite === undefined ? {} : { nonFinite: raw.model.nonFinite }),
      ...(raw.model.outputs === undefined ? {} : { outputs: [...raw.model.outputs] }),
    };
  } else {
    const t = raw.model.train!;
    const trainData: DataSpec = t.dataset
      ? { dataset: t.dataset, split: 'train', ...(t.limit === undefined ? {} : { limit: t.limit }) }
      : {
          ...(data.train ?? { dataset: 'mnist', split: 'train' }),
          ...(t.limit === undefined ? {} : { limit: t.limit }),
        };
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
    const s = search.get(index);
    return { index, name, rawOptions: options ?? {}, ...(s ? { search: s } : {}) };
  });

  const overrides: OverrideBlock[] = (raw.overrides ?? []).map(({ layers, classes, ops, pass, ...passes }, index) => {
    if (!layers && !classes && !ops) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`overrides[${index}]\` at ${formatPosition(source.positionOf(['overrides', index]))} names no layers; add \`layers: [...]\` (names, globs or re:regex), \`classes: [...]\` (Conv2D, Dense, ...) and/or, for a graph model, \`ops: [...]\` (Conv2D, MatMul, ...).`,
      );
    }
    if (Object.keys(passes).length === 0) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`overrides[${index}]\` at ${formatPosition(source.positionOf(['overrides', index]))} configures no pass; add a pass name with its options for these layers, or \`skip\` (e.g. \`quantize: { bits: 4 }\` or \`quantize: skip\`).`,
      );
    }
    return {
      index,
      ...(layers ? { layers } : {}),
      ...(classes ? { classes } : {}),
      ...(ops ? { ops } : {}),
      ...(pass === undefined ? {} : { pass: pass as number }),
      passes: passes as OverrideBlock['passes'],
    };
  });

  const thresholds: Thresholds = {};
  if (raw.thresholds?.accuracy) {
    thresholds.accuracy = { ...raw.thresholds.accuracy };
    const sig = thresholds.accuracy.significance;
    const at = () => formatPosition(source.positionOf(['thresholds', 'accuracy', 'significance']));
    if (sig && thresholds.accuracy.maxDrop === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.accuracy.significance\` at ${at()} judges \`maxDrop\`, which is not set; add \`maxDrop\` (e.g. 0 with mcnemar, 0.005 with bootstrap).`,
      );
    }
    if (sig?.test === 'mcnemar' && thresholds.accuracy.maxDrop !== 0) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.accuracy.significance\` at ${at()} uses mcnemar, which tests a drop of exactly 0, but maxDrop is ${String(thresholds.accuracy.maxDrop)}; use \`test: bootstrap\` for a margin, or maxDrop: 0.`,
      );
    }
  }
  if (raw.thresholds?.fidelity) thresholds.fidelity = structuredClone(raw.thresholds.fidelity);
  if (raw.thresholds?.metrics) {
    thresholds.metrics = {};
    for (const [name, set] of Object.entries(raw.thresholds.metrics)) {
      const limits: Record<string, number> = {};
      for (const [limit, value] of Object.entries(set)) {
        // Byte metrics take sizes such as "4MB"; the schema admits strings only there.
        const n = typeof value === 'string' ? parseByteSize(value) : value;
        if (n === undefined)
          throw new McbError(
            'MCB_RECIPE_INVALID',
            `\`thresholds.metrics.${name}.${limit}\` is not a size at ${formatPosition(source.positionOf(['thresholds', 'metrics', name, limit]))}; write bytes or a size such as "4MB".`,
          );
        limits[limit] = n;
      }
      thresholds.metrics[name] = limits;
    }
  }
  if (raw.thresholds?.latency) {
    const l = (thresholds.latency = { ...raw.thresholds.latency });
    const at = (key: string) => formatPosition(source.positionOf(['thresholds', 'latency', key]));
    // The latency step times the batch sizes of runtime.latency; a gate on another one would have nothing to read.
    const measured = raw.runtime?.latency?.batchSizes ?? [...LATENCY_BATCHES];
    if (l.batchSize !== undefined && !measured.includes(l.batchSize)) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency.batchSize\` at ${at('batchSize')} is ${l.batchSize}, but latency is measured at batch ${measured.join(', ')}; add ${l.batchSize} to \`runtime.latency.batchSizes\` or gate one of those.`,
      );
    }
    if (l.minRatio === undefined && l.maxMs === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency\` at ${formatPosition(source.positionOf(['thresholds', 'latency']))} sets no limit; add \`minRatio\` (speed-up against the baseline, e.g. 1.0 = no slower) or \`maxMs\`.`,
      );
    }
    if (l.significance && l.minRatio === undefined) {
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `\`thresholds.latency.significance\` at ${at('significance')} judges \`minRatio\`, which is not set; add \`minRatio\` (e.g. 1.0).`,
      );
    }
  }
  for (const key of COUNT_METRICS) if (raw.thresholds?.[key]) thresholds[key] = { ...raw.thresholds[key] };
  if (raw.thresholds?.size) {
    const { minRatio } = raw.thresholds.size;
    thresholds.size = {};
    for (const key of ['maxBytes', 'maxGzipBytes', 'maxBrotliBytes'] as const) {
      const value = raw.thresholds.size[key];
      if (value === undefined) continue;
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `\`thresholds.size.${key}\` is not a size at ${formatPosition(source.positionOf(['thresholds', 'size', key]))}; write bytes or a size such as "300kB".`,
        );
      }
      thresholds.size[key] = bytes;
    }
    if (minRatio !== undefined) thresholds.size.minRatio = minRatio;
  }

  const root = findProjectRoot(source.file);
  const output = variantOutput(
    raw.output !== undefined ? fromRecipe(raw.output) : join(root, 'out', raw.name),
    variant,
  );
  checkInsideProject(
    output,
    root,
    raw.output !== undefined
      ? `\`output\` at ${formatPosition(source.positionOf(['output']))}`
      : `the default output folder out/${raw.name}`,
    allowOutside,
  );
  return {
    file: source.file,
    files,
    document: structuredClone(raw) as unknown as Record<string, unknown>,
    name: raw.name,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    model,
    data,
    passes,
    overrides,
    thresholds,
    output,
    runtime: {
      backend: raw.runtime?.backend ?? 'auto',
      ...(raw.runtime?.threads === undefined ? {} : { threads: raw.runtime.threads }),
      ...(raw.runtime?.latency ? { latency: { ...raw.runtime.latency } } : {}),
    },
    ...(variant ? { variant } : {}),
    source,
  };
}
