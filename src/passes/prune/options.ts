/** The prune pass's options: their types, and how a recipe entry's raw options resolve to them. */
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import type { OptionsPlace, PassInput } from '../define.js';
import { resolveTeacher, TEACHER_OPTIONS, type TeacherOptions } from '../teacher/index.js';

export interface PruneSchedule {
  kind: 'polynomial';
  power: number;
  steps: number;
  frequency: number;
  initialSparsity: number;
}

export interface PruneOptions extends TeacherOptions {
  method: 'magnitude';
  /** Fraction of weights set to zero (absent with `pattern`). */
  sparsity?: number;
  scope?: 'layer' | 'global';
  /** "N:M". */
  pattern?: string;
  schedule?: PruneSchedule;
  learningRate?: number;
  batchSize?: number;
  optimizer?: 'adam' | 'sgd' | 'momentum';
  seed?: number;
}

/** Options of the schedule's training run (the teacher's included): only with a schedule. */
export const TRAINING_OPTIONS = ['learningRate', 'batchSize', 'optimizer', 'seed', ...TEACHER_OPTIONS] as const;

/** The options' defaults: scope goes with a sparsity, the training options with a schedule. */
export const DEFAULTS = {
  method: 'magnitude',
  scope: 'layer',
  learningRate: 1e-4,
  batchSize: 64,
  optimizer: 'adam',
  seed: 1,
} as const satisfies Partial<PruneOptions>;

/** The schedule's defaults (frequency defaults to a tenth of its steps). */
export const SCHEDULE_DEFAULTS = {
  kind: 'polynomial',
  power: 3,
  initialSparsity: 0,
} as const satisfies Partial<PruneSchedule>;

/** Where each resolved pattern was written, for the misfit error of a pattern an override gave one layer. */
export const patternAt = new WeakMap<PruneOptions, string>();

/**
 * The options of one prune entry (or override block), defaults filled in. A pattern goes with no sparsity,
 * scope, schedule or training option; training options only with a schedule.
 */
export function resolvePruneOptions(
  raw: Record<string, unknown>,
  place: OptionsPlace,
  input?: PassInput,
): PruneOptions {
  const where = formatDataPath(place.path);
  // `message` gets the position ("at recipe.yaml:12:7") of the option, or of the pass entry.
  const invalid = (option: string | undefined, message: (at: string) => string) =>
    new McbError('MCB_RECIPE_INVALID', `\`${where}\` ${message(`at ${place.at(option)}`)}`);
  const has = (k: string) => raw[k] !== undefined;
  if (has('sparsity') && has('pattern')) {
    throw invalid(
      'pattern',
      (at) =>
        `sets both sparsity and pattern, ${at}; keep one: \`sparsity\` prunes a fraction by magnitude, \`pattern: "N:M"\` keeps N of every M weights.`,
    );
  }
  if (!has('sparsity') && !has('pattern')) {
    throw invalid(
      undefined,
      (at) =>
        `sets neither sparsity nor pattern, ${at}; add e.g. \`sparsity: 0.5\` (half of each kernel set to zero) or \`pattern: "2:4"\`.`,
    );
  }
  const method = DEFAULTS.method;
  if (has('pattern')) {
    const pattern = raw.pattern as string;
    const { n, m } = parsePattern(pattern);
    if (n >= m)
      throw invalid(
        'pattern',
        (at) => `keeps ${n} of every ${m} weights (pattern "${pattern}"), ${at}; N must be smaller than M, e.g. "2:4".`,
      );
    for (const k of ['scope', 'schedule', ...TRAINING_OPTIONS]) {
      if (has(k))
        throw invalid(
          k,
          (at) =>
            `sets ${k} with pattern, ${at}; an N:M pattern is one-shot and per group. Remove \`${k}\` (a finetune pass after prune recovers accuracy and keeps the zeros).`,
        );
    }
    const options: PruneOptions = { method, pattern };
    patternAt.set(options, place.at('pattern'));
    return options;
  }
  const sparsity = raw.sparsity as number;
  const scope = (raw.scope as PruneOptions['scope']) ?? DEFAULTS.scope;
  if (!has('schedule')) {
    for (const k of TRAINING_OPTIONS) {
      if (has(k))
        throw invalid(
          k,
          (at) =>
            `sets ${k} without a schedule, ${at}; training options apply only to gradual pruning (\`schedule: { steps: 1000 }\`). Remove \`${k}\`, or add a schedule.`,
        );
    }
    return { method, sparsity, scope };
  }
  const s = raw.schedule as Partial<PruneSchedule> & { steps: number };
  const initialSparsity = s.initialSparsity ?? SCHEDULE_DEFAULTS.initialSparsity;
  if (initialSparsity > sparsity) {
    throw invalid(
      'schedule',
      (at) =>
        `starts its schedule at initialSparsity ${initialSparsity}, above the final sparsity ${sparsity}, ${at}; the schedule only raises sparsity.`,
    );
  }
  const schedule: PruneSchedule = {
    kind: s.kind ?? SCHEDULE_DEFAULTS.kind,
    power: s.power ?? SCHEDULE_DEFAULTS.power,
    steps: s.steps,
    frequency: s.frequency ?? Math.max(1, Math.round(s.steps / 10)),
    initialSparsity,
  };
  return {
    method,
    sparsity,
    scope,
    schedule,
    learningRate: (raw.learningRate as number | undefined) ?? DEFAULTS.learningRate,
    batchSize: (raw.batchSize as number | undefined) ?? DEFAULTS.batchSize,
    optimizer: (raw.optimizer as PruneOptions['optimizer']) ?? DEFAULTS.optimizer,
    seed: (raw.seed as number | undefined) ?? DEFAULTS.seed,
    // Nothing when it trains on labels alone: such an entry's options, and step key, are what they always were.
    ...resolveTeacher(raw, place, input, 'input'),
  };
}

export function parsePattern(pattern: string): { n: number; m: number } {
  const match = /^(\d+):(\d+)$/.exec(pattern);
  if (!match) throw new Error(`bad N:M pattern ${pattern}`); // the schema's pattern prevents this
  return { n: Number(match[1]), m: Number(match[2]) };
}

/**
 * Gradual pruning trains the model through TF.js's layers API; a graph model has no layers to train. Refused at
 * the option's line (planning), or where the pass was written when apply() finds it.
 */
export function scheduleOnGraph(at: string | undefined, modelAt?: string): never {
  throw new McbError(
    'MCB_RECIPE_INVALID',
    `prune with a \`schedule\`${at ? ` at ${at}` : ''} trains the model while it prunes, and a graph model${modelAt ? ` (set at ${modelAt})` : ''} cannot be trained: TF.js runs it for inference only. Prune it in one shot (remove \`schedule\` and its training options), or start from the layers model it was converted from.`,
  );
}
