import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planBuild } from '../../src/pipeline/index.js';
import { failure, QueueUnavailable } from '../../src/distributed/coordinator.js';
import { openJob, stepJob, type StepJob } from '../../src/distributed/job.js';
import { isCancelled, isMcbError } from '../../src/errors.js';
import { RecordedSource } from '../../src/recipe/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

/** A recipe whose places span two files (extends) and the command line (--set), with overrides. */
async function planned() {
  const dir = tempDir();
  writeText(join(dir, 'package.json'), '{}');
  writeText(
    join(dir, 'base.yaml'),
    tinyRecipe({ passes: '  - prune: { sparsity: 0.5 }\n  - quantize: { dtype: uint8 }' }),
  );
  const file = writeText(
    join(dir, 'child.yaml'),
    `extends: ./base.yaml\nname: child\noverrides:\n  - layers: [fc_1]\n    prune: skip\n`,
  );
  return planBuild(file, { cacheDir: join(dir, 'cache'), set: ['passes[1].quantize.dtype=uint16'] });
}

describe("a worker's failure, as the build sees it", () => {
  const job = { step: { title: 'prune (sparsity=0.5)' } } as Pick<StepJob, 'step'>;
  it('a user error keeps its code and words: the build fails as it would locally', () => {
    const e = failure(job, new Error('MCB_TRAINING_DIVERGED: training diverged at epoch 2; lower the learning rate.'));
    expect(isMcbError(e) && e.code).toBe('MCB_TRAINING_DIVERGED');
    expect(e.message).toBe('training diverged at epoch 2; lower the learning rate.');
    expect(isMcbError(e) && e.exitCode).toBe(2);
  });
  it('a cancelled worker step is a cancellation of the build (exit 130), in its words', () => {
    const e = failure(
      job,
      new Error('MCB_CANCELLED: the build was cancelled; nothing was cached for the step that was running.'),
    );
    expect(isCancelled(e)).toBe(true);
    expect(isMcbError(e) && e.exitCode).toBe(130);
    expect(e.message).toBe('the build was cancelled; nothing was cached for the step that was running.');
  });
  it("an error of the worker's own machine (disk, backend, files, version) makes the build run the step itself", () => {
    for (const code of ['MCB_OUTPUT', 'MCB_BACKEND', 'MCB_DATASET', 'MCB_REMOTE']) {
      const e = failure(job, new Error(`${code}: cannot write to the cache directory /var/cache/mcbuild (ENOSPC)`));
      expect(e).toBeInstanceOf(QueueUnavailable);
      expect(e.message).toMatch(/prune \(sparsity=0\.5\) failed on a worker: cannot write/);
    }
  });
  it('anything else (a crash on every attempt) makes the build run the step itself', () => {
    const e = failure(job, new Error('JavaScript heap out of memory'));
    expect(e).toBeInstanceOf(QueueUnavailable);
    expect(e.message).toMatch(/failed on the workers after 3 attempts \(JavaScript heap out of memory/);
  });
});

describe('step jobs', () => {
  it('carry the step alone through JSON, with the places of its errors intact', async () => {
    const { plan, recipe } = await planned();
    for (const step of plan.steps) {
      const job = JSON.parse(
        JSON.stringify(stepJob(step, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key)),
      ) as StepJob;
      expect(job).not.toHaveProperty('recipe');
      expect(job.inputs.map((i) => i.key)).toEqual(step.inputs.map((id) => plan.steps.find((s) => s.id === id)!.key));
      const opened = openJob(job, step.key);
      const { layerPlan: _, ...plain } = step;
      expect(opened).toEqual(JSON.parse(JSON.stringify(plain)));
      if (opened.spec.kind !== 'pass') continue;
      // The places a pass's errors name, wherever it runs: its options and its override blocks' settings.
      const source = new RecordedSource(recipe.file, opened.spec.places);
      const entry = ['passes', opened.spec.index, opened.spec.pass];
      for (const p of [entry, ...Object.keys(opened.spec.raw).map((k) => [...entry, k])]) {
        expect(source.positionOf(p)).toEqual(recipe.source.positionOf(p));
      }
      for (const rule of opened.spec.rules ?? []) {
        const block = ['overrides', rule.block, opened.spec.pass];
        expect(source.positionOf(block)).toEqual(recipe.source.positionOf(block));
      }
      // A path below any recorded one falls back to its nearest ancestor, as the YAML source map does.
      expect(source.positionOf([...entry, 'nonexistent'])).toEqual(recipe.source.positionOf([...entry, 'nonexistent']));
    }
    // The three places a recipe's values come from all survive: the child, the file it extends, the command line.
    const places = plan.steps.flatMap((s) => (s.spec.kind === 'pass' ? Object.values(s.spec.places) : []));
    expect(places.some((p) => p.file.endsWith('child.yaml'))).toBe(true);
    expect(places.some((p) => p.file.endsWith('base.yaml'))).toBe(true);
    expect(places.some((p) => /--set/.test(p.label ?? ''))).toBe(true);
  });

  it('are refused when altered, or planned by another mcbuild version', async () => {
    const { plan } = await planned();
    const step = plan.steps.find((s) => s.spec.kind === 'pass')!;
    const fresh = () =>
      JSON.parse(
        JSON.stringify(stepJob(step, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key)),
      ) as StepJob;
    const refused = (job: StepJob, id: string | undefined, pattern: RegExp) => {
      let error: unknown;
      try {
        openJob(job, id);
      } catch (e) {
        error = e;
      }
      expect(isMcbError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    };
    const altered = fresh();
    altered.step.keyInputs.options = { sparsity: 0.99 };
    refused(altered, step.key, /altered/);
    // What the worker would run must be what the key says: the pass options and the input entries it fetches.
    const optionsAltered = fresh();
    (optionsAltered.step.spec as { options: object }).options = { sparsity: 0.99 };
    refused(optionsAltered, step.key, /altered/);
    const inputAltered = fresh();
    inputAltered.inputs[0]!.key = 'a'.repeat(64);
    refused(inputAltered, step.key, /altered/);
    const rulesAltered = fresh();
    (rulesAltered.step.spec as { rules?: unknown }).rules = undefined;
    refused(rulesAltered, step.key, /altered/);
    refused(fresh(), 'f'.repeat(64), /altered/);
    const older = fresh();
    older.mcbuild = '0.0.1';
    refused(older, step.key, /0\.0\.1.*this worker runs/);
    refused({ format: 99 } as unknown as StepJob, step.key, /not an mcbuild step job/);
    expect(() => openJob(fresh(), step.key)).not.toThrow();
  });
});
