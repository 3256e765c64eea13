import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planBuild } from '../../src/build.js';
import { failure, QueueUnavailable } from '../../src/distributed/coordinator.js';
import { openJob, stepJob, type StepJob } from '../../src/distributed/job.js';
import { isCancelled, isMcbError } from '../../src/errors.js';
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

function paths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const out = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...path, i])));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...path, k]));
  return out;
}

describe("a worker's failure, as the build sees it", () => {
  const job = { step: { title: 'prune (sparsity=0.5)' } } as Pick<StepJob, 'step'>;
  it('a user error keeps its code and words: the build fails as it would locally', () => {
    const e = failure(job, new Error('MCB_TRAINING_DIVERGED: training diverged at epoch 2; lower the learning rate.'));
    expect(isMcbError(e) && e.code).toBe('MCB_TRAINING_DIVERGED');
    expect((e as Error).message).toBe('training diverged at epoch 2; lower the learning rate.');
    expect(isMcbError(e) && e.exitCode).toBe(2);
  });
  it('a cancelled worker step is a cancellation of the build (exit 130), in its words', () => {
    const e = failure(
      job,
      new Error('MCB_CANCELLED: the build was cancelled; nothing was cached for the step that was running.'),
    );
    expect(isCancelled(e)).toBe(true);
    expect(isMcbError(e) && e.exitCode).toBe(130);
    expect((e as Error).message).toBe('the build was cancelled; nothing was cached for the step that was running.');
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
  it('carry the step and recipe through JSON with every place of the recipe intact', async () => {
    const { plan, recipe } = await planned();
    for (const step of plan.steps) {
      const job = JSON.parse(
        JSON.stringify(stepJob(step, recipe, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key)),
      ) as StepJob;
      expect(job.inputs.map((i) => i.key)).toEqual(step.inputs.map((id) => plan.steps.find((s) => s.id === id)!.key));
      const opened = openJob(job, step.key);
      expect(opened.passes).toEqual(JSON.parse(JSON.stringify(recipe.passes)));
      expect(opened.data).toEqual(recipe.data);
      for (const p of paths(recipe.document)) {
        expect(opened.source.positionOf(p)).toEqual(recipe.source.positionOf(p));
        expect(opened.source.positionOf(p, { key: true })).toEqual(recipe.source.positionOf(p, { key: true }));
      }
      // A path below any recorded one falls back to its nearest ancestor, as the YAML source map does.
      expect(opened.source.positionOf(['passes', 0, 'prune', 'nonexistent'])).toEqual(
        recipe.source.positionOf(['passes', 0, 'prune', 'nonexistent']),
      );
    }
    // The three places a recipe's values come from all survive: the child, the file it extends, the command line.
    const files = new Set(paths(recipe.document).map((p) => recipe.source.positionOf(p).file));
    expect([...files].some((f) => f.endsWith('child.yaml'))).toBe(true);
    expect([...files].some((f) => f.endsWith('base.yaml'))).toBe(true);
    expect(recipe.source.positionOf(['passes', 1, 'quantize', 'dtype']).label).toMatch(/--set/);
  });

  it('are refused when altered, or planned by another mcbuild version', async () => {
    const { plan, recipe } = await planned();
    const step = plan.steps.find((s) => s.spec.kind === 'pass')!;
    const fresh = () =>
      JSON.parse(
        JSON.stringify(stepJob(step, recipe, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key)),
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
    (altered.step.keyInputs as Record<string, unknown>).options = { sparsity: 0.99 };
    refused(altered, step.key, /altered/);
    // What the worker would run must be what the key says: the pass options and the input entries it fetches.
    const optionsAltered = fresh();
    (optionsAltered.step.spec as { options: object }).options = { sparsity: 0.99 };
    refused(optionsAltered, step.key, /altered/);
    const inputAltered = fresh();
    inputAltered.inputs[0]!.key = 'a'.repeat(64);
    refused(inputAltered, step.key, /altered/);
    refused(fresh(), 'f'.repeat(64), /altered/);
    const older = fresh();
    older.mcbuild = '0.0.1';
    refused(older, step.key, /0\.0\.1.*this worker runs/);
    refused({ format: 99 } as unknown as StepJob, step.key, /not an mcbuild step job/);
    expect(() => openJob(fresh(), step.key)).not.toThrow();
  });
});
