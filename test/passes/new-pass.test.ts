/**
 * A pass is one self-describing definition: registering one — defined here, in the test — is all it takes for
 * the recipe schema, the reference docs, `mcbuild plan`, a build and report.json to know it. The pass reads
 * what the next passes will (calibration data, an earlier model besides its input) and takes a per-layer
 * option, so the shape is exercised end to end.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { build, planBuild } from '../../src/index.js';
import { recipeSchema } from '../../src/language/index.js';
import { renderPassesDoc } from '../../src/language/reference.js';
import { paramCount } from '../../src/model/index.js';
import { allPasses, definePass, optionsByLayer, registerPass } from '../../src/passes/index.js';
import { buildReportSchema } from '../../src/report/schema/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

interface IdentityOptions {
  note: string;
  scale: number;
}

const identity = definePass<IdentityOptions>({
  meta: {
    name: 'identity',
    version: 1,
    summary: 'copy the model unchanged, reporting what it read (a test pass)',
    docs: {
      description: 'Copies its input model. It exists to test that a pass is one definition.',
      examples: ['passes:\n  - identity: { note: hello }'],
    },
    schema: {
      type: 'object',
      description: 'A pass that copies its input.',
      additionalProperties: false,
      properties: {
        note: { type: 'string', description: 'Recorded in the statistics.' },
        scale: { type: 'number', minimum: 0, description: 'A per-layer option the pass reports per layer.' },
      },
    },
    perLayer: ['scale'],
    models: ['layers', 'graph'],
    // It copies its input by design: an unchanged model is a warning, not an empty-pass error.
    mayBeEmpty: 'it copies its input model (a test pass)',
    stats: {
      type: 'object',
      additionalProperties: false,
      required: ['note', 'calibrationSamples', 'originalParams', 'scales'],
      properties: {
        note: { type: 'string', description: 'The note option.' },
        calibrationSamples: { type: 'integer', description: 'Samples of data.calibration it read.' },
        originalParams: { type: 'integer', description: 'Parameters of the baseline, read besides the input.' },
        scales: { type: 'object', description: 'The scale each layer got.' },
      },
    },
  },
  defaultOptions: { note: 'none', scale: 1 },
  needs: () => ['calibration'],
  models: () => ({ original: 'baseline' }),
  resolveOptions(raw) {
    return { note: (raw.note as string | undefined) ?? 'none', scale: (raw.scale as number | undefined) ?? 1 };
  },
  async apply(model, options, ctx) {
    const calibration = await ctx.data('calibration');
    const original = await ctx.model!('original');
    const optionsFor = optionsByLayer(ctx, options);
    const layers = [...new Set(model.weightSpecs.map((w) => w.name.split('/')[0]!))];
    const scales = Object.fromEntries(layers.map((l) => [l, optionsFor(l)?.scale ?? 'skipped']));
    return {
      model,
      stats: {
        note: options.note,
        calibrationSamples: calibration.count,
        originalParams: paramCount(original),
        scales,
      },
    };
  },
});

const dir = tempDir();
writeText(join(dir, 'package.json'), '{}');
const recipeText = tinyRecipe({
  passes: '  - quantize: { dtype: float16 }\n  - identity: { note: hello }',
  extra: `overrides:\n  - layers: [fc_1]\n    identity: { scale: 2 }\n`,
}).replace('\ndata:\n', '\ndata:\n  calibration: { dataset: mnist, split: train, limit: 64 }\n');
const recipe = writeText(join(dir, 'r.yaml'), recipeText);

let unregister: () => void;
beforeAll(() => {
  unregister = registerPass(identity);
});
afterAll(() => unregister());

describe('a pass defined outside src/passes/, once registered', () => {
  it('is in the recipe schema: its entry, its per-layer option in override blocks, its defaults', () => {
    const schema = recipeSchema() as { $defs: Record<string, { properties: Record<string, unknown> }> };
    const entry = schema.$defs.passEntry as unknown as { propertyNames: { enum: string[] } };
    expect(entry.propertyNames.enum).toContain('identity');
    expect(schema.$defs['pass-identity']!.properties.note).toMatchObject({ type: 'string', default: 'none' });
    // scale is per layer: it may be `auto` in the entry, and an override block may set it (but not note).
    expect(JSON.stringify(schema.$defs['pass-identity']!.properties.scale)).toContain('"const":"auto"');
    const block = schema.$defs.overrideBlock!.properties.identity as {
      anyOf: { properties?: Record<string, { not?: object }> }[];
    };
    expect(block.anyOf[1]!.properties!.scale).toMatchObject({ type: 'number' });
    expect(block.anyOf[1]!.properties!.note!.not).toEqual({});
  });

  it('is in the generated reference, with its options, defaults and statistics', () => {
    const doc = renderPassesDoc(allPasses());
    expect(doc).toContain('| [identity](#identity) | copy the model unchanged');
    expect(doc).toMatch(/\| `note` \| string \| `"none"` \| {2}\| Recorded in the statistics\. \|/);
    expect(doc).toMatch(/\| `calibrationSamples` \| integer \| Samples of data\.calibration it read\. \|/);
  });

  it('is planned: it reads data.calibration and the baseline, both in its key', async () => {
    const { plan } = await planBuild(recipe, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    const step = plan.steps.find((s) => s.id === 'pass-2-identity')!;
    expect(step.inputs).toEqual(['pass-1-quantize', 'baseline']);
    expect(step.keyInputs.data).toHaveProperty('calibration');
    expect((step.keyInputs.inputs as string[]).length).toBe(2);
    // `mcbuild plan`, run in this process, lists it.
    let printed = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      printed += String(chunk);
      return true;
    });
    try {
      expect(await main(['plan', recipe, '--cache-dir', join(dir, 'cache'), '--backend', 'wasm'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(printed).toMatch(/pass-2-identity/);
  });

  it('builds, and report.json holds its statistics, valid against the generated report schema', async () => {
    const result = await build(recipe, { cacheDir: join(dir, 'cache'), backend: 'wasm' });
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(readFileSync(join(result.outputDir, 'report.json'), 'utf8')) as {
      passes: { id: string; stats: Record<string, unknown> }[];
    };
    const stats = report.passes.find((p) => p.id === 'pass-2-identity')!.stats;
    expect(stats).toMatchObject({ note: 'hello', calibrationSamples: 64 });
    expect(stats.originalParams).toBeGreaterThan(0);
    expect(stats.scales).toMatchObject({ fc_1: 2, predictions: 1 });
    const validate = new Ajv2020({ strict: false }).compile(buildReportSchema(allPasses()));
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    // The schema does check its statistics: a report with a wrong one fails.
    stats.calibrationSamples = 'many';
    expect(validate(report)).toBe(false);
  });

  it('may read the model of an earlier entry, and is refused naming a later one', async () => {
    const { perLayer: _, ...wholeModel } = identity.meta;
    const reader = (ref: number) =>
      definePass<object>({
        meta: { ...wholeModel, name: `reads-${ref}`, stats: { type: 'object' } },
        defaultOptions: {},
        models: () => ({ earlier: { pass: ref } }),
        resolveOptions: () => ({}),
        apply: (model) => Promise.resolve({ model, stats: {} }),
      });
    const drop = [registerPass(reader(0)), registerPass(reader(1))];
    try {
      const text = (name: string) =>
        tinyRecipe({ passes: `  - quantize: { dtype: float16 }\n  - ${name}: {}`, output: './out-reads' });
      const ok = await planBuild(writeText(join(dir, 'reads-0.yaml'), text('reads-0')), {
        cacheDir: join(dir, 'cache'),
      });
      expect(ok.plan.steps.find((s) => s.id === 'pass-2-reads-0')!.inputs).toEqual(['pass-1-quantize']);
      await expect(
        planBuild(writeText(join(dir, 'reads-1.yaml'), text('reads-1')), { cacheDir: join(dir, 'cache') }),
      ).rejects.toThrow(
        /the reads-1 pass at .*reads-1\.yaml:\d+:\d+ reads the model of passes\[1\] as its earlier, but that entry does not run before it/,
      );
    } finally {
      for (const d of drop) d();
    }
  });

  it('is gone again once unregistered: a recipe naming it is refused at its line', async () => {
    unregister();
    try {
      await expect(planBuild(recipe, { cacheDir: join(dir, 'cache') })).rejects.toThrow(
        /names an unknown pass `identity` at .*r\.yaml:\d+:\d+/,
      );
    } finally {
      unregister = registerPass(identity);
    }
  });
});
