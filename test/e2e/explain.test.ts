/** Messages that say why: a miss names the key input that changed; `explain` shows what a key is made of. */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir();
const recipe = join(dir, 'r.yaml');
const cacheDir = join(dir, 'cache');
const run = (args: string[]) => runCli([...args, '--cache-dir', cacheDir], { cwd: dir });

beforeAll(async () => {
  writeText(recipe, tinyRecipe());
  expect((await run([recipe])).code).toBe(0);
});

describe('why a step runs', () => {
  it('a miss names the option that changed, and the upstream step for what follows', async () => {
    writeText(recipe, tinyRecipe({ passes: '  - quantize: { dtype: float16 }' }));
    const r = await run([recipe]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /\[run\]\s+pass-1-quantize: .*\(changed since the last build: options\.dtype: "uint8" → "float16"; key [0-9a-f]{12}\)/,
    );
    expect(r.stderr).toMatch(
      /\[run\]\s+eval-result: .*\(changed since the last build: upstream step pass-1-quantize changed;/,
    );
    expect(r.stderr).toMatch(/\[cached\] baseline: .*same inputs as a verified earlier run/);
    expect(r.stdout).toMatch(/^4 steps, 2 cached, 2 run in [\d.]+ s — PASS$/m);
  });

  it('explain shows the hashed inputs, the cache status and the change since the last build', async () => {
    writeText(recipe, tinyRecipe({ passes: '  - quantize: { dtype: uint16 }' }));
    const r = await run(['explain', recipe, '--step', 'pass-1-quantize']);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/pass-1-quantize: quantize \(dtype=uint16, granularity=per-tensor\)/);
    expect(r.stdout).toMatch(/key\s+[0-9a-f]{64} \(not in cache: it will run\)/);
    expect(r.stdout).toMatch(/options\s+\{"dtype":"uint16","granularity":"per-tensor"\}/);
    expect(r.stdout).toMatch(/inputs\s+baseline@[0-9a-f]{12}/);
    expect(r.stdout).toMatch(/since the last build: options\.dtype: "float16" → "uint16"/);

    const json = JSON.parse((await run(['explain', recipe, '--json'])).stdout);
    expect(json.steps.map((s: { id: string; cached: boolean }) => [s.id, s.cached])).toEqual([
      ['baseline', true],
      ['eval-baseline', true],
      ['pass-1-quantize', false],
      ['eval-result', false],
    ]);
    expect(json.steps[0].sinceLastBuild).toEqual([]);
    expect(json.steps[0].keyInputs).toMatchObject({ step: 'train', architecture: 'mlp', backend: 'wasm' });
  });

  it('explain --step with an unknown id suggests the right one', async () => {
    const r = await run(['explain', recipe, '--step', 'pass-1-quantise']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--step pass-1-quantise is not a step of tiny \(did you mean `pass-1-quantize`\?\); its steps are: baseline, eval-baseline, pass-1-quantize, eval-result\./,
    );
  });
});
