/**
 * The shipped recipes are documentation users copy: each must validate and plan. (Running them in full is
 * the README's quick start; the test suite trains tiny models instead, to stay within minutes.)
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from '../helpers.js';

const recipes = readdirSync(join(ROOT, 'recipes')).filter(
  (f) =>
    f.endsWith('.yaml') &&
    // bring-your-own.yaml points at the user's model and images, which mcbuild does not ship:
    // test/e2e/bring-your-own.test.ts builds it against a fixture instead.
    f !== 'bring-your-own.yaml',
);

describe('shipped recipes', () => {
  it('include the quick start recipe', () => {
    expect(recipes).toContain('mobilenet.yaml');
    expect(recipes).toContain('mnist-mlp.yaml');
  });

  for (const name of recipes) {
    it(`${name} validates and plans`, async () => {
      const r = await runCli(['plan', join('recipes', name), '--cache-dir', tempDir()]);
      expect(r.code, r.all).toBe(0);
      expect(r.stdout).toMatch(/\d+ steps: 0 cached, \d+ to run/);
    });
  }
});
