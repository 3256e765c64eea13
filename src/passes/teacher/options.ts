/**
 * The teacher options of the passes that train the model they receive (finetune, scheduled prune): what a
 * recipe writes (`teacher`, `teacherWeight`, `temperature`), and how they resolve. Without labels in
 * data.train such a pass learns from a teacher, by default the baseline; with labels it trains on them as it
 * always did unless `teacher` is written, and its options (so its step key) stay what they were.
 */
import { McbError } from '../../errors.js';
import { formatDataPath } from '../../recipe/index.js';
import type { JsonSchema, ModelRef, OptionsPlace, PassInput } from '../define.js';

export interface TeacherOptions {
  /** The model the pass learns from: the baseline or an earlier entry's output. Absent: the labels alone. */
  teacher?: ModelRef;
  /** Weight of the teacher term; 1 − teacherWeight weighs the cross-entropy on the labels. */
  teacherWeight?: number;
  /** Temperature of the distribution-matching term. */
  temperature?: number;
}

export const TEACHER_OPTIONS = ['teacher', 'teacherWeight', 'temperature'] as const;

export const TEACHER_DEFAULTS = {
  /** With labels: mostly the teacher, as distill's alpha 0.1 (Hinton et al.). Without labels it is 1. */
  labelledWeight: 0.9,
  temperature: 2,
} as const;

/**
 * What `previous` means for the pass: `input`, the model it receives (scheduled prune, which compresses as it
 * trains); `before-previous`, the model the entry before it received (finetune, which recovers from that entry).
 */
export type PreviousRule = 'input' | 'before-previous';

/**
 * The options' JSON Schemas, with the pass's own meaning of `previous` in the description, each description
 * after `lead` ("With schedule: ") when the options only go with another.
 */
export function teacherSchema(previous: string, lead = ''): Record<string, JsonSchema> {
  const say = (text: string) => (lead ? `${lead}${text[0]!.toLowerCase()}${text.slice(1)}` : text);
  return {
    teacher: {
      description: say(
        `The model to learn from (knowledge distillation): \`baseline\` (the model before the first pass), \`previous\` (${previous}), or an earlier entry of \`passes\` by name or index (its output). Default: the baseline when data.train has no labels; with labels, none (the labels alone, as without this option). It must have the model's outputs with the same widths in the same order; with several outputs the loss sums one term per output (KL or a variance-scaled MSE).`,
      ),
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'integer', minimum: 0 },
      ],
    },
    teacherWeight: {
      description: say(
        `With a teacher: weight w of the teacher term; the loss is w·(teacher term) + (1 − w)·(cross-entropy on the labels, against the first output when the model has several). Default 1 (the teacher alone) when data.train has no labels, ${TEACHER_DEFAULTS.labelledWeight} otherwise.`,
      ),
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
    },
    temperature: {
      description: say(
        `With a teacher whose outputs are probabilities: temperature T of the term T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) (default ${TEACHER_DEFAULTS.temperature}).`,
      ),
      type: 'number',
      minimum: 1,
      maximum: 100,
    },
  };
}

/**
 * The resolved teacher options of an entry, {} when it trains on labels alone. Named entries are resolved to
 * their index here, so `previous` and the index it stands for give the same step key. Without the entry's
 * place (per-layer options resolved at run time, candidate checks) nothing is resolved: those never train.
 */
export function resolveTeacher(
  raw: Record<string, unknown>,
  place: OptionsPlace,
  input: PassInput | undefined,
  previous: PreviousRule,
): TeacherOptions {
  const where = `\`${formatDataPath(place.path)}\``;
  const written = raw.teacher as string | number | undefined;
  const labelFree = input?.labelled?.('train') === false;
  if (written === undefined && !labelFree) {
    // Refused only where the labels are known to be there (planning): per-layer options resolved at run time
    // do not know, and the entry's own options were checked when it was planned.
    const labelled = input?.labelled?.('train') === true;
    for (const k of ['teacherWeight', 'temperature'])
      if (labelled && raw[k] !== undefined)
        throw new McbError(
          'MCB_RECIPE_INVALID',
          `${where} sets ${k} without a teacher, at ${place.at(k)}; with labels in data.train it learns from a teacher only when told which. Add \`teacher: baseline\` (the model before the first pass), or remove \`${k}\`.`,
        );
    return {};
  }
  if (!input?.entry) return {};
  return {
    teacher: resolveRef(written ?? 'baseline', place, input.entry, previous),
    teacherWeight: (raw.teacherWeight as number | undefined) ?? (labelFree ? 1 : TEACHER_DEFAULTS.labelledWeight),
    temperature: (raw.temperature as number | undefined) ?? TEACHER_DEFAULTS.temperature,
  };
}

function resolveRef(
  value: string | number,
  place: OptionsPlace,
  entry: { index: number; passes: readonly string[] },
  previous: PreviousRule,
): ModelRef {
  const { index, passes } = entry;
  const name = passes[index] ?? 'this pass';
  const at = `at ${place.at('teacher')}`;
  const earlier = passes
    .slice(0, index)
    .map((n, i) => `${i} (${n})`)
    .join(', ');
  const choices = `\`baseline\`${index > 0 ? `, \`previous\` or an earlier entry: ${earlier}` : ''}`;
  const invalid = (why: string) =>
    new McbError(
      'MCB_RECIPE_INVALID',
      `\`${formatDataPath([...place.path, 'teacher'])}\` ${why}, ${at}; name the model to learn from: ${choices}.`,
    );
  // The model entry k receives: the baseline for the first, else the output of the entry before it.
  const received = (k: number): ModelRef => (k === 0 ? 'baseline' : { pass: k - 1 });
  if (value === 'baseline') return 'baseline';
  if (value === 'previous') {
    if (previous === 'input') return received(index);
    if (index === 0)
      throw invalid(`is previous, the model the entry before ${name} received, but ${name} is the first pass`);
    return received(index - 1);
  }
  if (typeof value === 'number') {
    if (value >= index)
      throw invalid(
        `names passes[${value}], which ${value < passes.length ? 'does not run before this entry' : `does not exist (\`passes\` has ${passes.length} entries)`}`,
      );
    return { pass: value };
  }
  const matches = passes.slice(0, index).flatMap((n, i) => (n === value ? [i] : []));
  if (matches.length === 0) throw invalid(`names ${JSON.stringify(value)}, which is no earlier entry of \`passes\``);
  if (matches.length > 1)
    throw invalid(
      `names ${JSON.stringify(value)}, which runs ${matches.length} times before it (passes ${matches.join(', ')}): give the index`,
    );
  return { pass: matches[0]! };
}

/** Whether training reads the labels: without a teacher, or with part of the loss on them. */
export function readsLabels(options: TeacherOptions): boolean {
  return options.teacher === undefined || (options.teacherWeight ?? 1) < 1;
}

/** The earlier model the pass reads as its teacher, for `models()`. */
export function teacherModels(options: TeacherOptions): Record<string, ModelRef> {
  return options.teacher === undefined ? {} : { teacher: options.teacher };
}

/** "baseline", "passes[1] (prune)": how stats and messages name a teacher. */
export function describeTeacher(ref: ModelRef, passes?: readonly string[]): string {
  if (ref === 'baseline') return 'baseline';
  const name = passes?.[ref.pass];
  return `passes[${ref.pass}]${name ? ` (${name})` : ''}`;
}

/** The JSON Schema of the `teacher` a training pass records in its stats. */
export const TEACHER_STATS: JsonSchema = {
  description: 'With a teacher: what was learnt from. Absent when the pass trained on labels alone.',
  type: 'object',
  additionalProperties: false,
  required: ['model', 'loss', 'weight', 'forwardSamples'],
  properties: {
    model: { description: 'The teacher: `baseline`, or `passes[i]` (an earlier entry).', type: 'string' },
    loss: {
      description:
        'The teacher term: `kl` (T²·KL to its softened distribution) when every output row of the teacher is a probability distribution (non-negative, summing to 1), `mse` (mean squared difference of the outputs) otherwise; with several outputs, their shared kind, or `mixed` (see `outputs`).',
      enum: ['kl', 'mse', 'mixed'],
    },
    weight: {
      description: "teacherWeight: the teacher term's share of the loss.",
      type: 'number',
      minimum: 0,
      maximum: 1,
    },
    temperature: {
      description: 'The temperature of the `kl` terms; absent when every term is `mse`.',
      type: 'number',
      minimum: 1,
    },
    forwardSamples: {
      description: 'Samples of data.train the teacher ran on, once, before training.',
      type: 'integer',
      minimum: 0,
    },
    outputs: {
      description:
        "With several outputs (absent with one): each output's term, in the model's order. The loss is their sum; labels (teacherWeight below 1) score the first output only.",
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'width', 'loss'],
        properties: {
          name: { description: 'The output, as the model being trained names it.', type: 'string' },
          width: { description: 'Values per sample.', type: 'integer', minimum: 1 },
          loss: { description: 'Its term: `kl` or `mse`, as `loss` above for one output.', enum: ['kl', 'mse'] },
          variance: {
            description:
              "With `mse`: the variance of the teacher's output over data.train, which the term is divided by so that outputs of very different scales weigh alike (a term on a constant output, variance 0, is left undivided).",
            type: 'number',
            minimum: 0,
          },
        },
      },
    },
  },
};
