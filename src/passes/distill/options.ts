/**
 * The distill pass's options: their type, and how a recipe entry's raw options resolve. The student is
 * resolved while planning: `student: { width }` scales the teacher's own builtin architecture, which the
 * planner knows when the recipe trains the teacher (`model.train`) or an earlier distill built it; the step
 * key hashes the concrete student, and a width on a model loaded from a file fails before anything runs.
 */
import { McbError } from '../../errors.js';
import { ARCHITECTURE_NAMES, LENET5_DEFAULTS, MLP_DEFAULTS, MOBILENET_DEFAULT_ALPHA } from '../../engine/index.js';
import { formatDataPath, type TrainingOptions } from '../../recipe/index.js';
import type { BuiltinArchitecture, OptionsPlace, PassInput } from '../define.js';

export interface DistillOptions extends TrainingOptions {
  /** The concrete student, with `width` already applied. */
  student: BuiltinArchitecture;
  /** Weight of the hard-label cross-entropy; 1 − alpha weighs the soft term. */
  alpha: number;
  temperature: number;
  compareAlone: boolean;
}

/** The defaults of the options that have one (the student has none). */
export const DEFAULTS: Required<Omit<DistillOptions, 'student'>> = {
  alpha: 0.1,
  temperature: 4,
  epochs: 10,
  batchSize: 64,
  learningRate: 1e-3,
  optimizer: 'adam',
  schedule: { type: 'constant' },
  seed: 1,
  compareAlone: false,
};

export function resolveDistillOptions(
  raw: Record<string, unknown>,
  place: OptionsPlace,
  input: PassInput | undefined,
): DistillOptions {
  const o = raw as Partial<Omit<DistillOptions, 'student'>> & {
    student?: { architecture?: string; options?: Record<string, unknown>; width?: number };
  };
  return {
    student: resolveStudent(o.student, place, input),
    alpha: o.alpha ?? DEFAULTS.alpha,
    temperature: o.temperature ?? DEFAULTS.temperature,
    epochs: o.epochs ?? DEFAULTS.epochs,
    batchSize: o.batchSize ?? DEFAULTS.batchSize,
    learningRate: o.learningRate ?? DEFAULTS.learningRate,
    optimizer: o.optimizer ?? DEFAULTS.optimizer,
    schedule: o.schedule ?? { ...DEFAULTS.schedule },
    seed: o.seed ?? DEFAULTS.seed,
    compareAlone: o.compareAlone ?? DEFAULTS.compareAlone,
  };
}

/** `student` as written → the concrete architecture and options, with `width` applied to the teacher's. */
function resolveStudent(
  raw: { architecture?: string; options?: Record<string, unknown>; width?: number } | undefined,
  place: OptionsPlace,
  input: PassInput | undefined,
): BuiltinArchitecture {
  const where = `\`${formatDataPath([...place.path, 'student'])}\``;
  const at = `at ${place.at('student')}`;
  const example =
    "`student: { architecture: mlp, options: { hidden: [100] } }` or `student: { width: 0.5 }` (the teacher's architecture at half width)";
  if (raw === undefined)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath(place.path)}\` names no student ${`at ${place.at()}`}; add one, e.g. ${example}.`,
    );
  if (raw.architecture !== undefined && raw.width !== undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets both architecture and width ${at}; keep one: \`architecture\` (with \`options\`) names the student, \`width\` scales the teacher's own architecture.`,
    );
  }
  if (raw.architecture !== undefined) {
    if (!ARCHITECTURE_NAMES.includes(raw.architecture))
      throw new McbError(
        'MCB_RECIPE_INVALID',
        `${where} names an unknown architecture ${JSON.stringify(raw.architecture)} ${at}; known: ${ARCHITECTURE_NAMES.join(', ')}.`,
      );
    return { architecture: raw.architecture, options: raw.options ?? {} };
  }
  if (raw.width === undefined)
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} names neither an architecture nor a width ${at}; add one, e.g. ${example}.`,
    );
  if (raw.options !== undefined) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets options with width ${at}; \`options\` go with \`architecture\`. Name the student (\`architecture\` and \`options\`) or scale the teacher's (\`width\` alone).`,
    );
  }
  if (!input?.architecture) {
    throw new McbError(
      'MCB_RECIPE_INVALID',
      `${where} sets width ${raw.width}, which scales the teacher's builtin architecture, but the teacher is loaded from a file${input ? ` (model.path at ${input.modelAt})` : ''} and its architecture is not known to mcbuild, ${at}. Name the student instead, e.g. \`student: { architecture: mlp, options: { hidden: [100] } }\`, or train the teacher with \`model.train\`.`,
    );
  }
  return scaleWidth(input.architecture, raw.width);
}

/**
 * A builtin architecture with its widths multiplied by `width`: mlp's hidden units, lenet5's filters and
 * hidden units (each rounded, at least 1), the MobileNets' alpha (their own width multiplier). An option
 * left out is scaled from the architecture's own default.
 */
export function scaleWidth(arch: BuiltinArchitecture, width: number): BuiltinArchitecture {
  const scale = (xs: readonly number[]) => xs.map((x) => Math.max(1, Math.round(x * width)));
  const o = arch.options;
  switch (arch.architecture) {
    case 'mlp':
      return {
        architecture: 'mlp',
        options: { ...o, hidden: scale((o.hidden as number[] | undefined) ?? MLP_DEFAULTS.hidden) },
      };
    case 'lenet5':
      return {
        architecture: 'lenet5',
        options: {
          ...o,
          filters: scale((o.filters as number[] | undefined) ?? LENET5_DEFAULTS.filters),
          hidden: scale((o.hidden as number[] | undefined) ?? LENET5_DEFAULTS.hidden),
        },
      };
    case 'mobilenet-v1':
    case 'mobilenet-v2':
      return {
        architecture: arch.architecture,
        options: { ...o, alpha: ((o.alpha as number | undefined) ?? MOBILENET_DEFAULT_ALPHA) * width },
      };
    default:
      throw new Error(`scaleWidth: no width rule for architecture ${arch.architecture}`);
  }
}
