/**
 * What a queued step carries to a worker: the step (its spec and key inputs, from which the worker recomputes
 * the key), the recipe it was planned from, and its inputs' keys (fetched from the remote cache). The recipe's
 * source map cannot travel (it holds the parsed YAML), so the places of its values go as a table: a worker's
 * error message still says "recipes/x.yaml:12:15", as it would in a local build.
 */
import { McbError } from '../errors.js';
import { CACHE_FORMAT, type Step } from '../plan/plan.js';
import type { Backend, DataPath, Position, Recipe, RecipeSource } from '../recipe/index.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';

export const JOB_FORMAT = 1;

export interface StepJob {
  format: typeof JOB_FORMAT;
  mcbuild: string;
  step: Step;
  recipe: Omit<Recipe, 'source'>;
  /** positionOf(path) (and with key: true, under "k:") for every path of the recipe's document. */
  places: Record<string, Position>;
  backend: Backend;
  inputs: { id: string; key: string }[];
}

export function stepJob(step: Step, recipe: Recipe, backend: Backend, inputKeys: (id: string) => string): StepJob {
  const { source, ...plain } = recipe;
  const places: Record<string, Position> = {};
  const visit = (path: (string | number)[], value: unknown) => {
    places[canonicalJson(path)] = source.positionOf(path);
    if (path.length > 0) places[`k:${canonicalJson(path)}`] = source.positionOf(path, { key: true });
    if (Array.isArray(value)) value.forEach((v, i) => visit([...path, i], v));
    else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) visit([...path, k], v);
  };
  visit([], recipe.document);
  // layerPlan is the planner's prediction for `explain`; the worker resolves layers against the real model.
  const { layerPlan: _, ...plainStep } = step;
  return {
    format: JOB_FORMAT,
    mcbuild: MCBUILD_VERSION,
    step: plainStep,
    recipe: plain,
    places,
    backend,
    inputs: step.inputs.map((id) => ({ id, key: inputKeys(id) })),
  };
}

/** The places of a recipe that came in a job: the nearest recorded ancestor, as SourceMap falls back. */
export class RecordedSource implements RecipeSource {
  constructor(
    readonly file: string,
    private readonly places: Record<string, Position>,
  ) {}

  positionOf(path: DataPath, opts: { key?: boolean } = {}): Position {
    if (opts.key === true && path.length > 0) {
      const key = this.places[`k:${canonicalJson(path)}`];
      if (key) return key;
    }
    for (let n = path.length; n >= 0; n--) {
      const found = this.places[canonicalJson(path.slice(0, n))];
      if (found) return found;
    }
    return { file: this.file, line: 1, col: 1 };
  }
}

/**
 * Checks a job before it runs: the step's key must be the hash of its key inputs (so a result is stored under
 * what really produced it), and the worker must be the mcbuild that planned it (its version is in every key).
 * Returns the recipe with its places restored.
 */
export function openJob(job: StepJob, jobId: string | undefined): Recipe {
  if (job?.format !== JOB_FORMAT || typeof job.step?.key !== 'string') {
    throw new McbError(
      'MCB_REMOTE',
      `job ${jobId ?? '?'} is not an mcbuild step job of format ${JOB_FORMAT}; the coordinator and this worker run different mcbuild versions (this is ${MCBUILD_VERSION}): run the same version on both.`,
    );
  }
  if (
    job.mcbuild !== MCBUILD_VERSION ||
    job.step.keyInputs?.mcbuild !== MCBUILD_VERSION ||
    job.step.keyInputs?.cacheFormat !== CACHE_FORMAT
  ) {
    throw new McbError(
      'MCB_REMOTE',
      `${job.step.title ?? job.step.id}: planned by mcbuild ${String(job.mcbuild)} but this worker runs ${MCBUILD_VERSION}; the version is part of every step key, so workers must run the coordinator's version. Upgrade or downgrade one of them.`,
    );
  }
  const k = job.step.keyInputs as { inputs?: unknown; pass?: unknown; options?: unknown; step?: unknown };
  const spec = job.step.spec;
  // The key must be the hash of its inputs, and what the worker will run must be what the key says: the input
  // entries it fetches and, for a pass, the pass and its options. (The queue is trusted beyond that: see README.)
  const consistent =
    sha256Hex(canonicalJson(job.step.keyInputs)) === job.step.key &&
    (jobId === undefined || jobId === job.step.key) &&
    canonicalJson(job.inputs?.map((i) => i.key) ?? null) === canonicalJson(k.inputs ?? null) &&
    (spec?.kind !== 'pass' ||
      (k.step === 'pass' && spec.pass === k.pass && canonicalJson(spec.options) === canonicalJson(k.options)));
  if (!consistent) {
    throw new McbError(
      'MCB_REMOTE',
      `${job.step.title}: the job's step does not match its key (its key inputs, input entries or pass options differ); the job was altered in the queue and is refused.`,
    );
  }
  return { ...job.recipe, source: new RecordedSource(job.recipe.file, job.places) } as Recipe;
}
