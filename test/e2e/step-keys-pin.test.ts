/**
 * Users' caches survive refactors only if step keys do not move. This pins the key of every step of every
 * shipped recipe (each variant of a matrix) as `mcbuild plan --json --backend wasm` prints it.
 *
 * The pin belongs to the package version and the lock file: keys contain mcbuild's version and the versions
 * of the packages that provide data and numerics, so the pin records those too. A change that moves keys on
 * purpose (a pass's version bump, a new release) re-pins with `npx vitest run test/e2e/step-keys-pin.test.ts -u`
 * and says why in the commit body.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from '../helpers.js';

interface PlannedStep {
  id: string;
  key: string;
  keyInputs: { packages?: Record<string, string>; data?: { package?: string } };
}
interface PlanJson {
  steps?: PlannedStep[];
  variants?: { variant: string; steps: PlannedStep[] }[];
}

const recipes = readdirSync(join(ROOT, 'recipes'))
  // bring-your-own.yaml points at the user's model and images, which mcbuild does not ship:
  // test/e2e/bring-your-own.test.ts builds it against a fixture instead.
  .filter((f) => f.endsWith('.yaml') && f !== 'bring-your-own.yaml')
  .sort();

/** The versions that go into keys: mcbuild's and those of the lock file's numerics and data packages. */
function keyedVersions(steps: PlannedStep[]): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const out: Record<string, string> = { mcbuild: pkg.version };
  for (const s of steps) {
    for (const [name, version] of Object.entries(s.keyInputs.packages ?? {})) out[name] = version;
    const data = s.keyInputs.data?.package;
    if (data) out[data.slice(0, data.lastIndexOf('@'))] = data.slice(data.lastIndexOf('@') + 1);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

describe('step keys of the shipped recipes', () => {
  it('are the pinned ones', async () => {
    const cacheDir = tempDir();
    const pinned: Record<string, Record<string, string>> = {};
    const allSteps: PlannedStep[] = [];
    for (const name of recipes) {
      const r = await runCli(['plan', '--json', '--backend', 'wasm', '--cache-dir', cacheDir, join('recipes', name)]);
      expect(r.code, r.all).toBe(0);
      const plan = JSON.parse(r.stdout) as PlanJson;
      const variants = plan.variants ?? [{ variant: '', steps: plan.steps ?? [] }];
      for (const v of variants) {
        pinned[v.variant ? `${name} [${v.variant}]` : name] = Object.fromEntries(v.steps.map((s) => [s.id, s.key]));
        allSteps.push(...v.steps);
      }
    }
    expect(Object.keys(pinned).length).toBeGreaterThanOrEqual(recipes.length);
    const document = { versions: keyedVersions(allSteps), keys: pinned };
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot('../fixtures/step-keys.json');
    // Eleven CLI processes, one after another: generous for a busy machine.
  }, 600_000);
});
