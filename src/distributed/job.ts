/**
 * What a queued step carries to a worker: the step itself (its spec holds everything its run needs, and its
 * key inputs, from which the worker recomputes the key) and its inputs' keys (fetched from the remote cache).
 * No recipe travels: a worker never reads one. Errors a step raises still name the recipe's lines, which the
 * planner recorded on the step.
 */
import { McbError } from '../errors.js';
import { CACHE_FORMAT, type Step } from '../plan/index.js';
import { hashedRules } from '../plan/layers.js';
import type { Backend } from '../recipe/index.js';
import { canonicalJson, sha256Hex } from '../util/hash.js';
import { MCBUILD_VERSION } from '../version.js';

/** 2: the job carries the self-contained step, no recipe. It is in the queue's name (coordinator.ts queueName). */
export const JOB_FORMAT = 2;

export interface StepJob {
  format: typeof JOB_FORMAT;
  mcbuild: string;
  step: Step;
  backend: Backend;
  inputs: { id: string; key: string }[];
}

export function stepJob(step: Step, backend: Backend, inputKeys: (id: string) => string): StepJob {
  // layerPlan is the planner's prediction for `explain`; the worker resolves layers against the real model.
  const { layerPlan: _, ...plainStep } = step;
  return {
    format: JOB_FORMAT,
    mcbuild: MCBUILD_VERSION,
    step: plainStep,
    backend,
    inputs: step.inputs.map((id) => ({ id, key: inputKeys(id) })),
  };
}

/**
 * Checks a job before it runs: the step's key must be the hash of its key inputs (so a result is stored under
 * what really produced it), and the worker must be the mcbuild that planned it (its version is in every key).
 * Returns the step to run.
 */
export function openJob(job: StepJob, jobId: string | undefined): Step {
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
  const k = job.step.keyInputs as {
    inputs?: unknown;
    pass?: unknown;
    options?: unknown;
    step?: unknown;
    overrides?: unknown;
  };
  const spec = job.step.spec;
  // The key must be the hash of its inputs, and what the worker will run must be what the key says: the input
  // entries it fetches and, for a pass, the pass, its options and its override rules. (The queue is trusted
  // beyond that: see docs/scale-out.md.)
  const consistent =
    sha256Hex(canonicalJson(job.step.keyInputs)) === job.step.key &&
    (jobId === undefined || jobId === job.step.key) &&
    canonicalJson(job.inputs?.map((i) => i.key) ?? null) === canonicalJson(k.inputs ?? null) &&
    (spec?.kind !== 'pass' ||
      (k.step === 'pass' &&
        spec.pass === k.pass &&
        canonicalJson(spec.options) === canonicalJson(k.options) &&
        canonicalJson(spec.rules ? hashedRules(spec.rules) : null) === canonicalJson(k.overrides ?? null)));
  if (!consistent) {
    throw new McbError(
      'MCB_REMOTE',
      `${job.step.title}: the job's step does not match its key (its key inputs, input entries, pass options or override rules differ); the job was altered in the queue and is refused.`,
    );
  }
  return job.step;
}
