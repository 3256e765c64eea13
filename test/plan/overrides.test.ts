/**
 * Per-layer overrides at planning time: pattern matching, precedence (option by option, later blocks win),
 * refusal of patterns that match nothing (with the YAML position and the closest names), of blocks for passes
 * that are not per-layer, and what each step key hashes. The passes' own per-layer behaviour is tested in
 * test/passes/per-layer-*.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { McbError } from '../../src/errors.js';
import { gatherPlanInputs, plan, type Plan } from '../../src/plan/index.js';
import { compilePattern, resolveLayer, rulesFor, type LayerRule } from '../../src/plan/layers.js';
import { formatDataPath, type OverrideBlock } from '../../src/recipe/index.js';
import { loadRecipe } from '../../src/language/index.js';
import { tempDir, tinyRecipe, writeText } from '../helpers.js';

const dir = tempDir('mcbuild-overrides-');
let n = 0;
async function planOf(text: string): Promise<Plan> {
  const recipe = await loadRecipe(writeText(join(dir, `o${n++}.yaml`), text));
  return plan(recipe, await gatherPlanInputs(recipe, { backend: 'wasm' }));
}
async function planError(text: string): Promise<McbError> {
  const e = await planOf(text).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(McbError);
  return e as McbError;
}
const at = () => 'here';

describe('layer patterns', () => {
  it('matches exact names, globs and full-match regexes', () => {
    const names = ['conv_pw_1', 'conv_pw_12', 'conv_dw_1', 'fc_1', 'fc_10'];
    const m = (p: string) => names.filter(compilePattern(p, at));
    expect(m('fc_1')).toEqual(['fc_1']);
    expect(m('conv_pw_*')).toEqual(['conv_pw_1', 'conv_pw_12']);
    expect(m('conv_??_1')).toEqual(['conv_pw_1', 'conv_dw_1']);
    expect(m('re:fc_\\d')).toEqual(['fc_1']); // full match: fc_10 is not fc_\d
    expect(m('re:conv_(pw|dw)_1')).toEqual(['conv_pw_1', 'conv_dw_1']);
    expect(m('fc.1')).toEqual([]); // a dot in a glob is a dot
    expect(() => compilePattern('re:fc_(', at)).toThrow(/"re:fc_\(" at here is not a valid regular expression/);
  });
});

describe('resolveLayer: the one precedence rule', () => {
  const blocks: OverrideBlock[] = [
    { index: 0, classes: ['Dense'], passes: { quantize: { dtype: 'int8', granularity: 'per-channel' } } },
    { index: 1, layers: ['fc_*'], passes: { quantize: { dtype: 'int4' } } },
    { index: 2, layers: ['fc_2'], passes: { quantize: 'skip' } },
    { index: 3, layers: ['fc_2'], classes: ['Conv2D'], passes: { quantize: { dtype: 'float16' } } }, // both must match: never fc_2 (Dense)
    { index: 4, layers: ['predictions'], passes: { quantize: 'skip', prune: { sparsity: 0.1 } } },
    { index: 5, layers: ['predictions'], passes: { quantize: { clip: 'mse' } } },
  ];
  const rules: LayerRule[] = rulesFor(blocks, 'quantize');
  const entry = ['passes', 0, 'quantize'] as const;
  const resolve = (name: string, className = 'Dense') => {
    const r = resolveLayer([...entry], { dtype: 'uint8', symmetric: false }, rules, { name, className });
    return {
      skip: r.skip,
      raw: r.raw,
      setBy: Object.fromEntries(Object.entries(r.setBy).map(([k, p]) => [k, formatDataPath(p)])),
    };
  };

  it('applies the entry, then every matching block in order, option by option', () => {
    expect(resolve('fc_1')).toEqual({
      skip: false,
      raw: { dtype: 'int4', symmetric: false, granularity: 'per-channel' },
      setBy: { dtype: 'overrides[1].quantize', symmetric: 'passes[0].quantize', granularity: 'overrides[0].quantize' },
    });
  });

  it('a skip excludes the layer; a later matching block with options brings it back', () => {
    expect(resolve('fc_2').skip).toBe(true);
    expect(resolve('fc_2').setBy.skip).toBe('overrides[2].quantize');
    const p = resolve('predictions');
    expect(p.skip).toBe(false);
    expect(p.raw).toEqual({ dtype: 'int8', symmetric: false, granularity: 'per-channel', clip: 'mse' });
    expect(p.setBy.skip).toBe('overrides[5].quantize');
  });

  it('layers and classes in one block must both match; other passes’ settings are not this pass’s', () => {
    expect(resolve('fc_2', 'Conv2D').raw.dtype).toBe('float16');
    expect(resolve('conv1', 'Conv2D')).toEqual({
      skip: false,
      raw: { dtype: 'uint8', symmetric: false },
      setBy: { dtype: 'passes[0].quantize', symmetric: 'passes[0].quantize' },
    });
    expect(rulesFor(blocks, 'prune')).toEqual([{ block: 4, layers: ['predictions'], set: { sparsity: 0.1 } }]);
  });

  it('alternative options replace each other', () => {
    const r = resolveLayer(
      ['passes', 0, 'quantize'],
      { dtype: 'int8' },
      [{ block: 0, layers: ['a'], set: { bits: 4 } }],
      { name: 'a' },
      [['dtype', 'bits']],
    );
    expect(r.raw).toEqual({ bits: 4 });
  });
});

describe('planning with overrides', () => {
  const recipe = (overrides: string, passes = '  - quantize: { dtype: int8, granularity: per-channel }') =>
    tinyRecipe({ passes, extra: `overrides:\n${overrides}` });

  it('hashes the rules into the pass key: a block changes that pass and what follows, not what precedes', async () => {
    const passes = '  - prune: { sparsity: 0.5 }\n  - quantize: { dtype: int8 }';
    const plain = await planOf(tinyRecipe({ passes }));
    const over = await planOf(recipe('  - layers: [fc_1]\n    quantize: { dtype: int4 }', passes));
    const key = (p: Plan, id: string) => p.steps.find((s) => s.id === id)!.key;
    expect(key(over, 'pass-1-prune')).toBe(key(plain, 'pass-1-prune'));
    expect(key(over, 'pass-2-quantize')).not.toBe(key(plain, 'pass-2-quantize'));
    expect(key(over, 'eval-result')).not.toBe(key(plain, 'eval-result'));
    const q = over.steps.find((s) => s.id === 'pass-2-quantize')!;
    expect(q.keyInputs.overrides).toEqual([{ layers: ['fc_1'], set: { dtype: 'int4' } }]);
    expect(q.title).toMatch(/\+ 1 override$/);
    // The planner resolved the predicted layers: explain shows this.
    expect(q.layerPlan!.layers!.map((l) => l.name)).toEqual(['flatten', 'fc_1', 'predictions']);
    expect(q.layerPlan!.overridden.map((r) => [r.layer, r.raw])).toEqual([['fc_1', { dtype: 'int4' }]]);
  });

  it('equivalent patterns give the same key only when written the same (the rules are hashed as written)', async () => {
    const a = await planOf(recipe('  - layers: [fc_1]\n    quantize: { dtype: int4 }'));
    const b = await planOf(recipe('  - layers: [fc_1]\n    quantize: { dtype: int4 }'));
    expect(a.steps.map((s) => s.key)).toEqual(b.steps.map((s) => s.key));
  });

  it('refuses a pattern that matches no layer, naming it, its position and the closest layers', async () => {
    const e = await planError(recipe('  - layers: [fc_1, fc1x]\n    quantize: { dtype: int4 }'));
    expect(e.message).toMatch(
      /layer pattern "fc1x" at .*o\d+\.yaml:20:20 matches no layer of the model; the closest are "fc_1", /,
    );
    const c = await planError(recipe('  - classes: [Conv2D]\n    quantize: skip'));
    expect(c.message).toMatch(
      /layer class "Conv2D" at .*:20:15 matches no layer of the model; the closest are "Dense", "Flatten"/,
    );
    const r = await planError(recipe('  - layers: ["re:conv.*"]\n    quantize: skip'));
    expect(r.message).toMatch(/layer pattern "re:conv\.\*" at .*:20:14 matches no layer/);
  });

  it('refuses blocks for passes the recipe does not run, passes that are not per-layer, and options that are model-wide', async () => {
    expect((await planError(recipe('  - layers: [fc_1]\n    prune: { sparsity: 0.5 }'))).message).toMatch(
      /`overrides\[0\]\.prune` at .*:21:5 configures the prune pass, which `passes` does not run/,
    );
    const shard = await planError(
      recipe('  - layers: [fc_1]\n    shard: { shardBytes: 4096 }', '  - shard: { shardBytes: 8192 }'),
    );
    expect(shard.message).toMatch(/the shard pass acts on the whole model and takes no per-layer options/);
    const wide = await planError(
      recipe('  - layers: [fc_1]\n    finetune: { epochs: 3 }', '  - finetune: { epochs: 1 }'),
    );
    expect(wide.message).toMatch(
      /`overrides\[0\]\.finetune\.epochs` at .*:21:17: finetune's epochs applies to the whole model, not one layer \(it takes only `skip` per layer\)/,
    );
  });

  it('checks the merged options of each layer with the pass’s own rules, pointing at the block', async () => {
    const e = await planError(recipe('  - layers: [fc_1]\n    quantize: { granularity: per-group }'));
    expect(e.message).toMatch(/`overrides\[0\]\.quantize` sets granularity per-group without groupSize.* at .*:21:30/);
  });

  it('needs layers or classes, and at least one pass, in every block', async () => {
    const file = writeText(join(dir, 'nolayers.yaml'), recipe('  - quantize: skip'));
    const e = await loadRecipe(file).then(
      () => undefined,
      (x: unknown) => x as McbError,
    );
    expect(e?.message).toMatch(/`overrides\[0\]` at .*:20:5 names no layers/);
  });

  it('refuses a block whose layers and classes never meet, and a bad regex at its own position', async () => {
    const e = await planError(recipe('  - layers: [fc_1]\n    classes: [Flatten]\n    quantize: skip'));
    expect(e.message).toMatch(
      /`overrides\[0\]` at .*:20:5 sets the quantize pass for layers \["fc_1"\] and classes \["Flatten"\], but no layer of the model that pass will receive matches both; that pass's input has 3 layers: flatten \(Flatten\), fc_1 \(Dense\), predictions \(Dense\)/,
    );
    const r = await planError(recipe('  - layers: [fc_1, "re:fc_("]\n    quantize: skip'));
    expect(r.message).toMatch(/layer pattern "re:fc_\(" at .*:20:20 is not a valid regular expression/);
  });

  it('does not predict the layers after distill (a new model): later blocks are checked when the pass runs', async () => {
    const p = await planOf(
      tinyRecipe({
        passes: '  - distill: { student: { architecture: lenet5 }, epochs: 1 }\n  - quantize: { dtype: uint8 }',
        extra:
          'overrides:\n  - layers: [conv_1]\n    quantize: skip\ndata:\n  eval: { dataset: mnist, split: test, limit: 300 }\n  train: { dataset: mnist, split: train, limit: 300 }\n',
      }).replace(/data:\n {2}eval: \{ dataset: mnist, split: test, limit: 300 \}\n/, ''),
    );
    expect(p.steps.find((s) => s.id === 'pass-2-quantize')!.layerPlan!.layers).toBeUndefined();
  });

  it('--set of an option replaces its alternatives in the pass entry, as a block would', async () => {
    const file = writeText(join(dir, 'alt.yaml'), tinyRecipe({ passes: '  - quantize: { dtype: uint8 }' }));
    const r = await loadRecipe(file, { set: ['passes[0].quantize.bits=4'] });
    expect(r.passes[0]!.rawOptions).toEqual({ bits: 4 });
  });
});
