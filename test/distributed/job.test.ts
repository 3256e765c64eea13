import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planBuild } from '../../src/build.js';
import { openJob, stepJob, type StepJob } from '../../src/distributed/job.js';
import { isMcbError } from '../../src/errors.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

/** A recipe whose places span two files (extends) and the command line (--set), with overrides. */
async function planned() {
  const dir = tempDir();
  writeText(join(dir, 'package.json'), '{}');
  writeText(join(dir, 'base.yaml'), tinyRecipe({ passes: '  - prune: { sparsity: 0.5 }\n  - quantize: { dtype: uint8 }' }));
  const file = writeText(
    join(dir, 'child.yaml'),
    `extends: ./base.yaml\nname: child\noverrides:\n  - layers: [fc_1]\n    prune: skip\n`,
  );
  return planBuild(file, { cacheDir: join(dir, 'cache'), set: ['passes[1].quantize.dtype=uint16'] });
}

function paths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const out = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...path, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...path, k]));
  return out;
}

describe('step jobs', () => {
  it('carry the step and recipe through JSON with every place of the recipe intact', async () => {
    const { plan, recipe } = await planned();
    for (const step of plan.steps) {
      const job = JSON.parse(JSON.stringify(stepJob(step, recipe, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key))) as StepJob;
      expect(job.inputs.map((i) => i.key)).toEqual(step.inputs.map((id) => plan.steps.find((s) => s.id === id)!.key));
      const opened = openJob(job, step.key);
      expect(opened.passes).toEqual(JSON.parse(JSON.stringify(recipe.passes)));
      expect(opened.data).toEqual(recipe.data);
      for (const p of paths(recipe.document)) {
        expect(opened.source.positionOf(p)).toEqual(recipe.source.positionOf(p));
        expect(opened.source.positionOf(p, { key: true })).toEqual(recipe.source.positionOf(p, { key: true }));
      }
      // A path below any recorded one falls back to its nearest ancestor, as the YAML source map does.
      expect(opened.source.positionOf(['passes', 0, 'prune', 'nonexistent'])).toEqual(recipe.source.positionOf(['passes', 0, 'prune', 'nonexistent']));
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
    const fresh = () => JSON.parse(JSON.stringify(stepJob(step, recipe, plan.backend, (id) => plan.steps.find((s) => s.id === id)!.key))) as StepJob;
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
    refused(fresh(), 'f'.repeat(64), /altered/);
    const older = fresh();
    older.mcbuild = '0.0.1';
    refused(older, step.key, /0\.0\.1.*this worker runs/);
    refused({ format: 99 } as unknown as StepJob, step.key, /not an mcbuild step job/);
    expect(() => openJob(fresh(), step.key)).not.toThrow();
  });
});
